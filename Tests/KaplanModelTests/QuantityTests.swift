import Testing

@testable import KaplanModel

@Suite struct QuantityTests {
    @Test(arguments: [
        ("512MiB", UInt64(512 << 20)), ("1.5GiB", UInt64(3 << 29)), ("4096B", 4096), ("20GB", 20_000_000_000),
        ("1TiB", UInt64(1) << 40), ("300kB", 300_000),
    ])
    func parsesSizes(text: String, bytes: UInt64) throws {
        #expect(try ByteSize.parse(text).get() == ByteSize(bytes))
    }

    @Test(arguments: ["500", "MiB", "-5MiB", "1..5GiB", "5 potatoes", ".5GiB", "99999999999TiB"])
    func refusesBadSizes(text: String) {
        #expect(throws: ByteSize.ParseError.self) { try ByteSize.parse(text).get() }
    }

    @Test func printsSizesInTheLargestExactUnit() {
        #expect(ByteSize(5000 << 20).description == "5000MiB")
        #expect(ByteSize(3 << 29).description == "1536MiB")
        #expect(ByteSize((3 << 29) + 1).description == "1.5GiB")
        #expect(ByteSize(1 << 30).description == "1GiB")
        #expect(ByteSize(100).description == "100B")
    }

    @Test func durationsAndRates() {
        #expect(Duration.parse("500ms") == Duration(milliseconds: 500))
        #expect(Duration.parse("5m") == Duration(milliseconds: 300_000))
        #expect(Duration.parse("10") == nil)
        #expect(Duration.parse("-1s") == nil)
        #expect(Duration.seconds(90).description == "90s")
        #expect(BitRate.parse("100Mbit") == BitRate(bitsPerSecond: 100_000_000))
        #expect(BitRate.parse("1.5Gbit") == BitRate(bitsPerSecond: 1_500_000_000))
        #expect(BitRate.parse("100MB/s") == nil)
        #expect(BitRate(bitsPerSecond: 1_000_000_000).description == "1Gbit")
    }

    @Test func minSuccessRoundsUp() {
        #expect(Policy.MinSuccess.percent(90).required(of: 16) == 15)
        #expect(Policy.MinSuccess.count(3).required(of: 16) == 3)
    }
}
