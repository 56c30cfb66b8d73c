import Foundation

/// A network lab for one test: a golden and N nodes, each in its own network namespace, on one bridge
/// (Tests/lab/netlab.sh does the work; see its header for the layout and the address scheme).
///
/// The lab remembers every process it starts; `destroy()` (also run by `deinit`) sends them SIGTERM, then SIGKILL
/// after a grace period, by PID, and then removes the namespaces with `netlab.sh down`. Root only: check
/// `NetLabGate` first.
final class NetLab {
    /// The lab's prefix: its namespaces are `<name>-switch`, `<name>-g`, `<name>-n1` … (at most 6 characters).
    let name: String
    /// How many nodes (besides the golden) the lab has.
    let nodes: Int
    /// The lab's state file as written by netlab.sh (KEY=VALUE lines).
    private(set) var state: [String: String]
    /// Every process `spawn` started, killed by PID in `destroy()`.
    private var processes: [Process] = []
    private var destroyed = false

    /// How long `destroy()` waits after SIGTERM before it sends SIGKILL.
    var gracePeriod: TimeInterval = 2

    /// What a short command printed and how it ended.
    struct Outcome: CustomStringConvertible {
        /// The exit status (-1 when the command was killed on timeout).
        var status: Int32
        /// stdout and stderr, interleaved.
        var output: String
        /// True when the command ran past its timeout and was killed.
        var timedOut: Bool
        var description: String {
            let end = timedOut ? "timed out, killed" : "exit \(status)"
            return "\(end): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    /// A lab operation that failed, with what netlab.sh or the tool said.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Tests/lab/netlab.sh in this package.
    static let script: URL = {
        // …/Tests/KaplanNetworkTests/Support/NetLab.swift → the package root is four levels up.
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Tests/lab/netlab.sh")
    }()

    /// True when this machine can run a lab (root, `ip netns`, bridges and veths, tc, nft, ping).
    static var available: Bool { NetLabGate.unavailableReason == nil }

    /// Why this machine cannot run a lab, or nil when it can.
    static var unavailableReason: String? { NetLabGate.unavailableReason }

    private static let counter = Counter()

    private init(name: String, nodes: Int, state: [String: String]) {
        self.name = name
        self.nodes = nodes
        self.state = state
    }

    deinit { destroy() }

    /// Brings up a lab with `nodes` nodes; `rate` like "100mbit" or "1gbit" (nil: unshaped), `loss` in percent on
    /// each node's ingress (nil or 0: none), `multicast` adds the multicast route and IGMP snooping with a querier.
    static func create(nodes: Int, rate: String? = nil, loss: Double? = nil, multicast: Bool = false) throws -> NetLab {
        var args = [String(nodes), "--rate", rate ?? "none"]
        if let loss, loss > 0 { args += ["--loss", String(format: "%.2f", loss)] }
        if multicast { args.append("--multicast") }
        // netlab.sh exits 3 when the name is taken (another process's lab, or a leftover): try the next name.
        for _ in 0..<20 {
            let name = uniqueName()
            let r = netlab(["up", name] + args, timeout: 120 + Double(nodes))
            if r.status == 3 { continue }
            guard r.status == 0 else {
                throw Failure(description: "netlab.sh up \(name) \(args.joined(separator: " ")) failed (\(r)); it removes what it made — if namespaces named \(name)-* remain, run: \(script.path) down \(name)")
            }
            let state = try readState(name)
            return NetLab(name: name, nodes: nodes, state: state)
        }
        throw Failure(description: "netlab.sh up: 20 lab names in a row were taken; look for leftover labs with `\(script.path) list` and `ip netns list`")
    }

    /// A lab prefix unique to this process and instance: "k" + pid (base 36, 3 digits) + counter (2 digits).
    private static func uniqueName() -> String {
        func base36(_ value: Int, digits: Int) -> String {
            let s = String(value, radix: 36)
            return String(repeating: "0", count: max(0, digits - s.count)) + s
        }
        let n = counter.next()
        return "k" + base36(Int(getpid()) % (36 * 36 * 36), digits: 3) + base36(n % (36 * 36), digits: 2)
    }

    private static func readState(_ name: String) throws -> [String: String] {
        let path = "/run/kaplan-netlab/\(name).env"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "netlab.sh up \(name) succeeded but left no state file \(path)")
        }
        var state: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: eq)...])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            state[String(line[..<eq])] = value
        }
        return state
    }

    /// The namespace of `node` ("g", "n1" … "nN" or "switch").
    func namespace(of node: String) -> String { "\(name)-\(node)" }

    /// The IPv4 address of `node` ("g" or "n1" … "nN"), as recorded in the lab's state file.
    func address(of node: String) throws -> String {
        let key = node == "g" ? "GOLDEN_ADDR" : "NODE_ADDR_\(node.dropFirst())"
        guard node == "g" || node.hasPrefix("n"), let value = state[key] else {
            throw Failure(description: "lab \(name) has no node '\(node)' (it has g and n1 … n\(nodes))")
        }
        return value
    }

    /// Starts `argv` inside `node`'s namespace (through `ip netns exec`, which execs it under the same PID), with
    /// stdout and stderr to the given files (nil: discarded). It is killed by PID when it outlives `timeout` or
    /// when the lab is destroyed.
    @discardableResult
    func spawn(in node: String, _ argv: [String], stdout: URL? = nil, stderr: URL? = nil, timeout: TimeInterval = 600) throws -> Process {
        guard !destroyed else { throw Failure(description: "lab \(name) is destroyed; cannot start \(argv.joined(separator: " ")) in \(node)") }
        guard let ip = NetLabGate.tool("ip") else { throw Failure(description: "ip (iproute2) is missing") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ip)
        p.arguments = ["netns", "exec", namespace(of: node)] + argv
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try Self.handle(for: stdout)
        p.standardError = try Self.handle(for: stderr)
        do { try p.run() } catch {
            throw Failure(description: "cannot start \(argv.joined(separator: " ")) in \(namespace(of: node)): \(error)")
        }
        processes.append(p)
        let grace = gracePeriod
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [weak p] in
            guard let p, p.isRunning else { return }
            Self.terminate(p, grace: grace)
        }
        return p
    }

    /// Runs a short command inside `node`'s namespace and waits for it; kills it (by PID) after `timeout` seconds.
    func run(in node: String, _ argv: [String], timeout: TimeInterval = 10) -> Outcome {
        guard let ip = NetLabGate.tool("ip") else { return Outcome(status: 127, output: "ip (iproute2) is missing", timedOut: false) }
        return Self.command(ip, ["netns", "exec", namespace(of: node)] + argv, timeout: timeout)
    }

    /// Sets the loss on `node`'s ingress to `percent` (0 removes it).
    func setLoss(_ node: String, percent: Double) throws {
        let r = Self.netlab(["loss", name, node, String(format: "%.2f", percent)], timeout: 30)
        guard r.status == 0 else { throw Failure(description: "netlab.sh loss \(name) \(node) \(percent) failed (\(r))") }
    }

    /// Shapes `node`'s link in both directions to `rate` ("100mbit", "1gbit"; nil removes the shaping).
    func setRate(_ node: String, _ rate: String?) throws {
        let r = Self.netlab(["rate", name, node, rate ?? "none"], timeout: 30)
        guard r.status == 0 else { throw Failure(description: "netlab.sh rate \(name) \(node) \(rate ?? "none") failed (\(r))") }
    }

    /// Kills every process the lab started (SIGTERM, then SIGKILL after the grace period, by PID), then removes the
    /// lab's namespaces. Safe to call more than once.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        let running = processes.filter(\.isRunning)
        for p in running { kill(p.processIdentifier, SIGTERM) }
        Self.waitUntilExited(running, seconds: gracePeriod)
        for p in running where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        Self.waitUntilExited(running, seconds: 5)
        processes = []
        let r = Self.netlab(["down", name], timeout: 60)
        if r.status != 0 {
            print("netlab: removing lab \(name) failed (\(r)); remove it by hand: \(Self.script.path) down \(name)")
        }
    }

    // MARK: - Helpers

    private static func handle(for url: URL?) throws -> FileHandle {
        guard let url else { return FileHandle.nullDevice }
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw Failure(description: "cannot create output file \(url.path)")
        }
        return try FileHandle(forWritingTo: url)
    }

    /// Polls (every 50 ms, at most `seconds`) until none of the processes runs.
    private static func waitUntilExited(_ processes: [Process], seconds: TimeInterval) {
        let deadline = Date().addingTimeInterval(seconds)
        while processes.contains(where: \.isRunning), Date() < deadline { usleep(50_000) }
    }

    private static func terminate(_ p: Process, grace: TimeInterval) {
        guard p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        waitUntilExited([p], seconds: grace)
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    private static func netlab(_ args: [String], timeout: TimeInterval) -> Outcome {
        command("/bin/bash", [script.path] + args, timeout: timeout)
    }

    /// Runs `program` with `args`, stdout and stderr to one temporary file, killing it by PID after `timeout`.
    static func command(_ program: String, _ args: [String], timeout: TimeInterval) -> Outcome {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kaplan-netlab-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        do {
            let h = try handle(for: out)
            p.standardOutput = h
            p.standardError = h
            try p.run()
            try? h.close()
        } catch {
            return Outcome(status: 127, output: "cannot start \(program): \(error)", timedOut: false)
        }
        var timedOut = false
        if done.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            terminate(p, grace: 2)
            _ = done.wait(timeout: .now() + 5)
        }
        let output = String(decoding: (try? Data(contentsOf: out)) ?? Data(), as: UTF8.self)
        let status: Int32 = timedOut || p.isRunning ? -1 : p.terminationStatus
        return Outcome(status: status, output: output, timedOut: timedOut)
    }

    /// A thread-safe counter for unique lab names.
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}
