import Foundation
import Testing

/// Whether the network-namespace lab tests can run here, and whether they must (CI sets KAPLAN_REQUIRE_LAB=1
/// where it is root). The same pattern as Tests/KaplanCLITests/Lab.swift.
enum NetLabGate {
    /// Why this machine cannot run the network lab tests, or nil when it can.
    static let unavailableReason: String? = {
        if getuid() != 0 { return "not root (network namespaces need CAP_SYS_ADMIN)" }
        for tool in ["ip", "tc", "nft", "ping"] where NetLabGate.tool(tool) == nil {
            let package = ["ip": "iproute2", "tc": "iproute2", "nft": "nftables", "ping": "iputils-ping"][tool]!
            return "\(tool) is missing (Debian package \(package); scripts/setup should install it)"
        }
        if !FileManager.default.isReadableFile(atPath: NetLab.script.path) {
            return "\(NetLab.script.path) is missing"
        }
        // Probe for real: a namespace with a bridge and a veth in it, removed at once.
        let ip = NetLabGate.tool("ip")!
        let probe = "kprobe-\(getpid())"
        defer { _ = NetLab.command(ip, ["netns", "delete", probe], timeout: 10) }
        let steps: [([String], String)] = [
            (["netns", "add", probe], "`ip netns add` fails"),
            (["-n", probe, "link", "add", "br0", "type", "bridge"], "cannot create a bridge in a namespace"),
            (["-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"], "cannot create a veth pair"),
        ]
        for (args, what) in steps {
            let r = NetLab.command(ip, args, timeout: 10)
            if r.status != 0 { return "\(what): ip \(args.joined(separator: " ")): \(r.output.trimmingCharacters(in: .whitespacesAndNewlines))" }
        }
        return nil
    }()

    /// True when the network lab tests must not be skipped.
    static let required = ProcessInfo.processInfo.environment["KAPLAN_REQUIRE_LAB"] == "1"

    /// Run the test when the lab is available, or when it is required (then it fails with the reason).
    static var enabled: Bool {
        if let reason = unavailableReason, !required {
            print("SKIP network lab test: \(reason) (set KAPLAN_REQUIRE_LAB=1 to make this a failure)")
            return false
        }
        return true
    }

    /// Records a failure when the lab is required but unavailable; true when the test may go on.
    static func ready() -> Bool {
        if let reason = unavailableReason {
            Issue.record("the network lab tests are required here (KAPLAN_REQUIRE_LAB=1) but cannot run: \(reason)")
            return false
        }
        return true
    }

    /// The absolute path of a tool found on PATH or in the system directories, or nil.
    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        return dirs.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
