import Foundation
import KaplanEngine
import KaplanModel

/// The checks made before the first write to a target: never the golden, never an excluded disk, never a
/// disk that is mounted or in use. Every refusal names the node, the device and what to do.
public struct SafetyGate: Sendable {
    /// The golden's disk or image (resolved to a real path).
    public var golden: String?
    /// Excluded disks from the plan (`sdb`, `/dev/sdc`).
    public var excludedDisks: [String]

    /// Creates a gate.
    public init(golden: String?, excludedDisks: [String]) {
        self.golden = golden.map(Self.real)
        self.excludedDisks = excludedDisks
    }

    static func real(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// The name a disk path is excluded by (`sdb` for `/dev/sdb`).
    static func diskName(_ path: String) -> String { String(path.split(separator: "/").last ?? Substring(path)) }

    /// Throws when `target` must not be written, for `node`.
    public func check(node: String, target: Target, ownLoops: Set<String> = []) throws {
        let path = Self.real(target.path)
        if let golden, path == golden {
            throw HostError("refused-golden", "\(node): refusing to write \(target.path): it is the golden (the golden is only ever read)")
        }
        let name = Self.diskName(path)
        if let hit = excludedDisks.first(where: { Self.diskName($0) == name || Self.diskName($0) == Self.diskName(target.path) }) {
            throw HostError("refused-excluded", "\(node): refusing to write \(target.path): exclude.disks names it ('\(hit)')")
        }
        switch target {
        case .image(let file):
            guard FileManager.default.fileExists(atPath: file) else {
                throw HostError("no-target", "\(node): image \(file) does not exist", cause: "create it first, e.g. truncate -s 8G \(file)")
            }
            let busy = Loop.attached(to: file).filter { !ownLoops.contains($0) }
            if !busy.isEmpty {
                throw HostError(
                    "busy-device", "\(node): refusing to write \(file): loop device \(busy.joined(separator: " ")) is attached to it",
                    cause: "detach it (losetup -d) or stop whatever uses it")
            }
        case .device(let device):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: device, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw HostError("no-target", "\(node): device \(device) does not exist")
            }
            let sources = Mounts.sources()
            let base = Self.diskName(path)
            let mounted = sources.filter { s in
                let n = Self.diskName(Self.real(s))
                return n == base || (n.hasPrefix(base) && n.dropFirst(base.count).allSatisfy { $0.isNumber || $0 == "p" })
            }
            if !mounted.isEmpty {
                throw HostError(
                    "busy-device", "\(node): refusing to write \(device): \(mounted.sorted().joined(separator: " ")) is mounted",
                    cause: "unmount it first; kaplan never writes a disk in use")
            }
            if let holders = try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/block/\(base)/holders"), !holders.isEmpty {
                throw HostError("busy-device", "\(node): refusing to write \(device): it is held by \(holders.joined(separator: " ")) (LVM, RAID or dm)")
            }
            let swaps = ProcFile.read("/proc/swaps") ?? ""
            if swaps.split(separator: "\n").dropFirst().contains(where: { Self.diskName(String($0.split(separator: " ").first ?? "")).hasPrefix(base) }) {
                throw HostError("busy-device", "\(node): refusing to write \(device): it holds an active swap area")
            }
        }
    }
}
