/// Finds the closest candidate to a misspelt word, for "did you mean" hints.
package enum Suggestions {
    /// The candidate with the smallest edit distance, if it is close enough to be a plausible typo.
    package static func closest(to word: String, in candidates: [String]) -> String? {
        let lowered = word.lowercased().replacingUnderscores()
        var best: (String, Int)? = nil
        for candidate in candidates {
            let d = distance(Array(lowered.utf8), Array(candidate.lowercased().utf8))
            if best == nil || d < best!.1 { best = (candidate, d) }
        }
        guard let (candidate, d) = best else { return nil }
        let limit = max(1, min(3, candidate.count / 3))
        return d <= limit ? candidate : nil
    }

    /// Levenshtein distance with adjacent transpositions (optimal string alignment).
    package static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prevPrev = [Int](repeating: 0, count: b.count + 1)
        var prev = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(prev[j] + 1, current[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], prevPrev[j - 2] + 1)
                }
            }
            (prevPrev, prev, current) = (prev, current, prevPrev)
        }
        return prev[b.count]
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}
