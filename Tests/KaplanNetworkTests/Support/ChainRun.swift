import Foundation
import Testing

/// One chain deployment in a network lab: a lab golden image, a plan and a key in a temporary directory, the
/// golden (`kaplan apply`) in the lab's golden namespace and one `kaplan agent` per node namespace, each writing
/// its own image file. `finish()` kills whatever is left by PID, destroys the lab, releases the images' loop
/// devices and removes the directory — also when the test failed.
final class ChainRun {
    let dir: URL
    let lab: NetLab
    let nodes: Int
    let port = 30864
    private(set) var server: Process?
    private(set) var agents: [Int: Process] = [:]

    /// The package root.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The built kaplan binary (same build directory as the tests).
    static let kaplan: String = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("kaplan")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/kaplan").path
    }()

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Makes the golden (with `bigMiB` of incompressible data in /home), the plan, the key and the lab.
    /// `multicast` deploys over the multicast transport instead (group 239.255.213.7 on eth0, `loss` % on each
    /// node's ingress); `labNodes` adds namespaces that are not plan nodes (a rogue sender's).
    init(nodes: Int, rate: String? = nil, bigMiB: Int = 0, joinTimeout: String = "60s", transport extra: String = "", policy: String = "",
         multicast: Bool = false, loss: Double? = nil, labNodes: Int? = nil) throws {
        self.nodes = nodes
        dir = URL(fileURLWithPath: "/tmp/kaplan-\(multicast ? "mcast" : "chain")-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        lab = try NetLab.create(nodes: max(nodes, labNodes ?? nodes), rate: rate, loss: loss, multicast: multicast)
        let golden = ChainRun.sh("/bin/bash", [ChainRun.packageRoot.appendingPathComponent("Tests/lab/make-golden.sh").path, path("golden.img"), "1024"])
        guard golden.status == 0 else { throw Failure(description: "make-golden.sh: \(golden.output)") }
        if bigMiB > 0 {
            let big = ChainRun.sh("/bin/bash", [ChainRun.packageRoot.appendingPathComponent("Tests/lab/add-big-file.sh").path, path("golden.img"), String(bigMiB)])
            guard big.status == 0 else { throw Failure(description: "add-big-file.sh: \(big.output)") }
        }
        var key = [UInt8](repeating: 0, count: 32)
        for i in key.indices { key[i] = UInt8.random(in: 0...255) }
        FileManager.default.createFile(atPath: path("session.key"), contents: Data(key), attributes: [.posixPermissions: 0o600])
        var list = ""
        for i in 1...nodes {
            list += "    - name: node\(i)\n      image: n\(i).img\n      disk-size: 1GiB\n"
            FileManager.default.createFile(atPath: path("n\(i).img"), contents: nil)
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path("n\(i).img")))
            try h.truncate(atOffset: 1 << 30)
            try h.close()
        }
        let plan = """
            version: 1
            name: chainlab
            golden:
              image: golden.img
            table: dos
            partitions:
              - { id: root, type: linux, size: 600MiB, filesystem: ext4, mount: /, bootable: true }
              - { id: swap, type: swap, size: 64MiB }
              - { id: home, type: linux, size: fill, filesystem: xfs, mount: /home }
            nodes:
              list:
            \(list)transport:
              kind: \(multicast ? "multicast" : "chain")
              port: \(port)
              \(multicast ? "group: \(Self.group)\n  data-port: \(port + 2)\n  interface: eth0" : "order: name")
              join-timeout: \(joinTimeout)
            \(extra)bootloader:
              kind: none
              initrd: { rebuild: false }
            fixups:
              ssh-host-keys: keep
            exclude:
              paths: [/scratch]
            security:
              key-file: session.key
            policy:
              retries: 0
            \(policy)
            """
        try plan.write(toFile: path("plan.yaml"), atomically: true, encoding: .utf8)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// The multicast group of multicast runs.
    static let group = "239.255.213.7"

    /// Starts the golden's `kaplan apply` in the golden namespace.
    func startServer(_ extra: [String] = []) throws {
        server = try lab.spawn(
            in: "g", [Self.kaplan, "apply", path("plan.yaml"), "--auto-approve"] + extra,
            stdout: dir.appendingPathComponent("server.log"), stderr: dir.appendingPathComponent("server.err"), timeout: 400)
    }

    /// Starts node `i`'s agent in its namespace (env: extra environment, e.g. a fault hook).
    func startAgent(_ i: Int, key: String? = nil, env: [String] = []) throws {
        let golden = try lab.address(of: "g")
        agents[i] = try lab.spawn(
            in: "n\(i)",
            ["/usr/bin/env"] + env + [
                Self.kaplan, "agent", "--server", "\(golden):\(port)", "--key", key ?? path("session.key"), "--name", "node\(i)",
                "--disk", path("n\(i).img"), "--wait", "60",
            ],
            stdout: dir.appendingPathComponent("agent\(i).out"), stderr: dir.appendingPathComponent("agent\(i).log"), timeout: 400)
    }

    /// Waits for the server to end; its exit status (nil when it had to be killed).
    func waitForServer(timeout: Double = 300) -> Int32? {
        guard let server else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        while server.isRunning && Date() < deadline { usleep(50_000) }
        if server.isRunning {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
            return nil
        }
        return server.terminationStatus
    }

    /// Waits for agent `i` to end (up to `timeout`); its exit status or nil.
    func waitForAgent(_ i: Int, timeout: Double = 30) -> Int32? {
        guard let p = agents[i] else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        return p.isRunning ? nil : p.terminationStatus
    }

    /// Waits until `file` (in the run's directory) contains `text`; false on timeout.
    func waitFor(_ text: String, in file: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log(file).contains(text) { return true }
            usleep(100_000)
        }
        return false
    }

    /// A log file's text.
    func log(_ file: String) -> String {
        (try? String(contentsOfFile: path(file), encoding: .utf8)) ?? ""
    }

    /// Checks node `i`'s image with Tests/lab/verify-clone.sh.
    func verify(_ i: Int) -> (ok: Bool, output: String) {
        let r = ChainRun.sh("/bin/bash", [ChainRun.packageRoot.appendingPathComponent("Tests/lab/verify-clone.sh").path, path("golden.img"), path("n\(i).img"), "node\(i)"])
        return (r.status == 0, r.output)
    }

    /// Everything the run printed, for a failing expectation.
    var logs: String {
        (["server.log", "server.err"] + (1...nodes).map { "agent\($0).log" }).map { "== \($0)\n" + log($0).suffix(3000) }.joined(separator: "\n")
    }

    /// Kills what is left, destroys the lab, releases loops of this run's images and removes the directory.
    func finish() {
        lab.destroy()
        for p in [server].compactMap({ $0 }) + Array(agents.values) where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        let loops = ChainRun.sh("/sbin/losetup", ["-a"]).output.split(separator: "\n")
        for line in loops where line.contains(dir.path) {
            if let device = line.split(separator: ":").first {
                for m in ChainRun.mounts(of: String(device)) { _ = ChainRun.sh("/bin/umount", ["-l", m]) }
                _ = ChainRun.sh("/sbin/losetup", ["-d", String(device)])
            }
        }
        try? FileManager.default.removeItem(at: dir)
    }

    /// Mountpoints of a device in this mount namespace.
    static func mounts(of device: String) -> [String] {
        guard let h = FileHandle(forReadingAtPath: "/proc/self/mounts") else { return [] }
        let text = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 1 && f[0] == device ? String(f[1]) : nil
        }
    }

    /// Runs a short command; its status and combined output.
    static func sh(_ program: String, _ args: [String], timeout: Double = 120) -> (status: Int32, output: String) {
        let r = NetLab.command(program, args, timeout: timeout)
        return (r.status, r.output)
    }
}
