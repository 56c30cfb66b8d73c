import Foundation
import Testing

@testable import KaplanNetwork

@Suite("Wire values: endpoints, session ids, session keys", .timeLimit(.minutes(1)))
struct WireValuesTests {
    @Test func endpointParsing() {
        #expect(Endpoint(parsing: "10.213.0.9", defaultPort: 7400) == Endpoint(host: "10.213.0.9", port: 7400))
        #expect(Endpoint(parsing: "10.213.0.9:7500", defaultPort: 7400) == Endpoint(host: "10.213.0.9", port: 7500))
        #expect(Endpoint(parsing: "[fd00::1]:7500", defaultPort: 7400) == Endpoint(host: "fd00::1", port: 7500))
        #expect(Endpoint(parsing: "[::1]", defaultPort: 7400) == Endpoint(host: "::1", port: 7400))
        #expect(Endpoint(parsing: "fd00::1", defaultPort: 7400) == Endpoint(host: "fd00::1", port: 7400))
        #expect(Endpoint(parsing: "golden:7400", defaultPort: 1) == Endpoint(host: "golden", port: 7400))
        for bad in ["", ":7400", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:http", "[::1", "[::1]x", "[10.0.0.1]:5",
                    "a b:5", "10.0.0.1:+5", "fd00::zz"] {
            #expect(Endpoint(parsing: bad, defaultPort: 7400) == nil, "\(bad) should not parse")
        }
        #expect(Endpoint(host: "fd00::1", port: 5).description == "[fd00::1]:5")
        #expect(Endpoint(host: "10.213.0.1", port: 5).description == "10.213.0.1:5")
    }

    @Test func endpointOrder() {
        let sorted = [
            Endpoint(host: "10.213.0.10", port: 1), Endpoint(host: "fd00::1", port: 1), Endpoint(host: "10.213.0.9", port: 2),
            Endpoint(host: "10.213.0.9", port: 1), Endpoint(host: "10.213.1.0", port: 1), Endpoint(host: "alpha", port: 1),
        ].sorted()
        #expect(sorted.map(\.description) == ["10.213.0.9:1", "10.213.0.9:2", "10.213.0.10:1", "10.213.1.0:1", "alpha:1", "[fd00::1]:1"])
    }

    @Test func endpointCodable() throws {
        let endpoint = Endpoint(host: "10.213.0.4", port: 7400)
        let data = try JSONEncoder().encode(endpoint)
        #expect(try JSONDecoder().decode(Endpoint.self, from: data) == endpoint)
    }

    @Test func sessionID() throws {
        let id = SessionID.random()
        #expect(id.bytes.count == 16)
        #expect(id != SessionID.random())
        #expect(id.description.count == 32)
        #expect(SessionID(hex: id.description) == id)
        #expect(SessionID(hex: id.description.uppercased()) == id)
        #expect(SessionID(hex: "00") == nil)
        #expect(SessionID(hex: String(repeating: "g", count: 32)) == nil)
        let data = try JSONEncoder().encode([id])
        #expect(String(decoding: data, as: UTF8.self) == "[\"\(id)\"]")
        #expect(try JSONDecoder().decode([SessionID].self, from: data) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([SessionID].self, from: Data("[\"abc\"]".utf8)) }
    }

    @Test func sessionKeySizes() throws {
        #expect(throws: NetworkError.self) { try SessionKey(bytes: [UInt8](repeating: 1, count: 15)) }
        #expect(throws: NetworkError.self) { try SessionKey(bytes: [UInt8](repeating: 1, count: 4097)) }
        #expect(try SessionKey(bytes: [UInt8](repeating: 1, count: 16)).byteCount == 16)
        #expect(try SessionKey(bytes: [UInt8](repeating: 1, count: 4096)).byteCount == 4096)
        let secret = [UInt8](repeating: 0xAB, count: 32)
        let key = try SessionKey(bytes: secret)
        let shown = "\(key) \(String(reflecting: key))"
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!shown.lowercased().contains("abab") && !dumped.lowercased().contains("abab") && !dumped.contains("171"))
        #expect(key.fingerprint.count == 8)
        #expect(key.fingerprint == (try SessionKey(bytes: secret)).fingerprint)
        #expect(key.fingerprint != (try SessionKey(bytes: [UInt8](repeating: 0xAC, count: 32))).fingerprint)
    }

    @Test func sessionKeyFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kaplan-wire-key-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ bytes: [UInt8], mode: Int) throws -> String {
            let path = dir.appendingPathComponent(name).path
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            return path
        }
        func failure(_ path: String) -> NetworkError? {
            do {
                _ = try SessionKey(contentsOf: path)
                return nil
            } catch {
                return error
            }
        }
        let secret = Bytes.random(32)
        let good = try write("good.key", secret, mode: 0o600)
        #expect(try SessionKey(contentsOf: good).fingerprint == (try SessionKey(bytes: secret)).fingerprint)
        #expect(try SessionKey(contentsOf: try write("readonly.key", secret, mode: 0o400)).byteCount == 32)

        let missing = failure(dir.appendingPathComponent("absent.key").path)
        #expect(missing?.code == "key-file")
        #expect(missing?.message.contains("does not exist") == true)

        let directory = failure(dir.path)
        #expect(directory?.message.contains("is a directory") == true)

        let short = failure(try write("short.key", [1, 2, 3], mode: 0o600))
        #expect(short?.message.contains("fewer than the 16") == true)

        let long = failure(try write("long.key", [UInt8](repeating: 7, count: 5000), mode: 0o600))
        #expect(long?.message.contains("more than the 4096") == true)

        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o666] {
            let path = try write("open-\(mode).key", secret, mode: mode)
            let open = failure(path)
            #expect(open?.code == "key-file")
            #expect(open?.message.contains("chmod 600 \(path)") == true, "mode \(String(mode, radix: 8)): \(String(describing: open))")
        }
        for error in [missing, directory, short, long].compactMap({ $0 }) {
            #expect(!error.description.contains(Bytes.hex(secret)))
        }

        if getuid() != 0 {
            let path = try write("unreadable.key", secret, mode: 0o000)
            #expect(failure(path)?.message.contains("cannot be read") == true)
        } else {
            print("SKIP unreadable key file check: root reads every file")
        }
    }
}
