/// Draws from Binomial(n, p) for one fixed p: exact inverse-CDF tables for large n, Bernoulli trials for small n.
struct NetworkBinomial: Sendable {
    /// The success probability.
    let p: Double
    private var tables: [[Double]?] = []

    /// A sampler for probability `p`.
    init(p: Double) { self.p = p }

    /// Binomial(n, p) with the inverse CDF (cached per n), or `n` trials when n is small or the table underflows.
    mutating func sample(_ n: Int, _ rng: inout NetworkRandom) -> Int {
        if n <= 0 || p <= 0 { return 0 }
        if p >= 1 { return n }
        if n <= 12 { return trials(n, &rng) }
        if n >= tables.count { tables += Array(repeating: nil, count: n + 1 - tables.count) }
        if tables[n] == nil { tables[n] = Self.table(n: n, p: p) }
        let u = rng.unit()
        let drawn = tables[n]!.withUnsafeBufferPointer { cdf -> Int in
            if cdf.isEmpty { return -1 }
            if cdf[0] > u { return 0 }
            var lo = 1
            var hi = cdf.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cdf[mid] > u { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
        return drawn >= 0 ? drawn : trials(n, &rng)
    }

    private func trials(_ n: Int, _ rng: inout NetworkRandom) -> Int {
        var hits = 0
        for _ in 0..<n where rng.chance(p) { hits += 1 }
        return hits
    }

    /// P(X ≤ k) for k = 0, 1, … until it reaches 1 (the last entry is forced to 1); empty when (1−p)^n underflows.
    static func table(n: Int, p: Double) -> [Double] {
        let p0 = power(1 - p, n)
        guard p0 > 1e-280 else { return [] }
        var cdf: [Double] = []
        var pmf = p0
        var sum = 0.0
        let ratio = p / (1 - p)
        for k in 0...n {
            sum += pmf
            cdf.append(sum)
            if sum >= 1 - 1e-15 || k == n { break }
            pmf *= Double(n - k) / Double(k + 1) * ratio
        }
        cdf[cdf.count - 1] = 1
        return cdf
    }

    /// P(X > r) for X ~ Binomial(n, p): the chance that more than `r` of `n` datagrams are lost.
    static func tail(n: Int, p: Double, above r: Int) -> Double {
        if r >= n { return 0 }
        var pmf = power(1 - p, n)
        var cdf = 0.0
        let ratio = p / (1 - p)
        for k in 0...r {
            cdf += pmf
            pmf *= Double(n - k) / Double(k + 1) * ratio
        }
        return max(0, 1 - cdf)
    }

    /// x^n by squaring (no libm needed).
    static func power(_ x: Double, _ n: Int) -> Double {
        var result = 1.0
        var base = x
        var e = n
        while e > 0 {
            if e & 1 == 1 { result *= base }
            base *= base
            e >>= 1
        }
        return result
    }
}
