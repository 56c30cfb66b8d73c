/// The model's deterministic random generator (SplitMix64): the same seed always gives the same draws.
struct NetworkRandom: Sendable {
    private var state: UInt64

    /// Creates a generator; different seeds give unrelated streams.
    init(seed: UInt64) { state = seed &+ 0x6B61_706C_616E_2121 }

    /// The next 64 random bits.
    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform draw in [0, 1).
    @inline(__always)
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// True with probability `p`.
    @inline(__always)
    mutating func chance(_ p: Double) -> Bool { unit() < p }
}
