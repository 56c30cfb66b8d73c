import ArgumentParser
import Foundation
import KaplanModel

/// `--target NODE=DEVICE_OR_IMAGE`, shared by diff and apply: where each node's disk is on this machine.
struct TargetOptions: ParsableArguments {
    @Option(
        name: .customLong("target"),
        help: "Override a node's target: NODE=/dev/sdX or NODE=path/to/image (repeatable). Image paths are relative to the current directory.")
    var targets: [String] = []

    /// The plan's nodes with overrides applied and plan-relative image paths made absolute.
    func resolve(_ plan: Plan, planPath: String) throws -> [Node] {
        var overrides: [String: Target] = [:]
        for item in targets {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex, item.index(after: eq) != item.endIndex else {
                throw ValidationError("--target '\(item)' must be NODE=DEVICE_OR_IMAGE, as in node01=lab/node1.img")
            }
            let name = String(item[..<eq])
            let path = String(item[item.index(after: eq)...])
            guard plan.nodes.contains(where: { $0.name == name }) else {
                throw ValidationError("--target names '\(name)', which is not a node of the plan")
            }
            overrides[name] = path.hasPrefix("/dev/") ? .device(path) : .image(Self.absolute(path, base: FileManager.default.currentDirectoryPath))
        }
        let base = Self.planDirectory(planPath)
        let nodes = plan.nodes.map { node in
            var n = node
            if let o = overrides[node.name] {
                n.target = o
            } else if case .image(let p) = node.target {
                n.target = .image(Self.absolute(p, base: base))
            }
            return n
        }
        var seen: [String: String] = [:]
        for node in nodes {
            if let other = seen[node.target.path] {
                throw ValidationError("nodes '\(other)' and '\(node.name)' both target \(node.target.path); every node needs its own disk")
            }
            seen[node.target.path] = node.name
        }
        return nodes
    }

    /// The directory holding the plan file (plan-relative paths resolve against it).
    static func planDirectory(_ planPath: String) -> String {
        let url = URL(fileURLWithPath: planPath, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return url.deletingLastPathComponent().standardizedFileURL.path
    }

    static func absolute(_ path: String, base: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }
}
