import Foundation
import Testing

/// The chain transport for real: `kaplan apply` in the golden namespace, `kaplan agent` in node namespaces on a
/// bridge (10.213.0.0/16), loop-image disks, every clone verified file by file against the golden.
@Suite(.serialized, .enabled(if: NetLabGate.enabled)) struct ChainLabTests {
    @Test func fourNodesDeployThroughTheChain() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 4, bigMiB: 64)
        defer { run.finish() }
        try run.startServer()
        // A port scan and garbage on the control and data ports first: the server must shrug them off.
        #expect(run.waitFor("listening on", in: "server.log", timeout: 60), "\(run.logs)")
        let golden = try run.lab.address(of: "g")
        let probe = """
            import socket, os
            for port in (\(run.port), \(run.port + 1)):
                for payload in (b"", os.urandom(100000), b"KAPLAN" + b"\\xff" * 600, b"GET / HTTP/1.0\\r\\n\\r\\n"):
                    s = socket.create_connection(("\(golden)", port), timeout=5)
                    try:
                        s.sendall(payload)
                    except OSError:
                        pass
                    s.close()
            print("garbage sent")
            """
        let garbage = run.lab.run(in: "n1", ["/usr/bin/python3", "-c", probe], timeout: 60)
        #expect(garbage.output.contains("garbage sent"), "\(garbage)")
        for i in 1...4 { try run.startAgent(i) }
        let status = run.waitForServer()
        #expect(status == 0, "\(run.logs)")
        #expect(run.log("server.log").contains("refused a connection"), "\(run.logs)")
        #expect(run.log("server.log").contains("chain: golden → node1 → node2 → node3 → node4"), "\(run.logs)")
        // Every data link sent with the plan's congestion control (the default, cubic, where the kernel has it;
        // this lab's kernel default may be another one) and says so in its closing line.
        let available = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_congestion_control", encoding: .utf8)) ?? ""
        let used = available.split(whereSeparator: \.isWhitespace).contains("cubic") ? "TCP cubic)" : "could not be set"
        #expect(run.log("server.log").contains("golden: served node1 chunks 0–"), "\(run.logs)")
        #expect(run.log("server.log").split(separator: "\n").contains { $0.contains("golden: served node1") && $0.contains(used) }, "\(run.logs)")
        for i in 1...3 {
            #expect(run.log("agent\(i).log").split(separator: "\n").contains { $0.contains("node\(i): served node\(i + 1) chunks 0–") && $0.contains(used) },
                    "agent\(i).log:\n\(run.log("agent\(i).log"))")
        }
        for i in 1...4 {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
            #expect(run.waitForAgent(i) == 0, "agent \(i) did not exit 0:\n\(run.log("agent\(i).log"))")
        }
    }

    /// kill -9 of a node in the middle of the stream: the chain is re-linked around it, the others finish and
    /// verify, and the exit code says partial success.
    @Test(arguments: [2, 1]) func killedNodeIsCutOutAndTheOthersFinish(victim: Int) throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 4, rate: "100mbit", bigMiB: 160)
        defer { run.finish() }
        try run.startServer()
        for i in 1...4 { try run.startAgent(i) }
        #expect(run.waitFor("receiving from", in: "agent\(victim).log", timeout: 120), "\(run.logs)")
        // 160 MiB at 100 Mbit/s take ~14 s: 4 s in, the victim is in the middle of the stream.
        Thread.sleep(forTimeInterval: 4)
        if let p = run.agents[victim] { kill(p.processIdentifier, SIGKILL) }
        let status = run.waitForServer()
        #expect(status == 3, "expected partial success (3):\n\(run.logs)")
        let server = run.log("server.log")
        #expect(server.contains("node\(victim) lost"), "\(run.logs)")
        #expect(server.contains("node-lost") || server.contains("the agent was lost"), "\(run.logs)")
        for i in 1...4 where i != victim {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
        }
        // The survivors' stall, as the server's log shows it (progress lines come at most once a second per node,
        // so this is an upper bound): the gap in node(victim+1)'s progress around the death. A figure, not a limit.
        if let stall = Self.stall(of: "node\(victim + 1)", around: "node\(victim) lost", in: server) {
            print("chain repair: node\(victim) killed; node\(victim + 1) received nothing for at most \(String(format: "%.1f", stall)) s")
        }
    }

    /// Seconds between `node`'s last stream progress before the line containing `event` and its first progress
    /// with more bytes after it.
    static func stall(of node: String, around event: String, in log: String) -> Double? {
        var before: (t: Double, bytes: String)? = nil
        var eventTime: Double? = nil
        for line in log.split(separator: "\n") {
            guard line.hasPrefix("["), let close = line.firstIndex(of: "]"),
                let t = Double(line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces).dropLast())
            else { continue }
            let rest = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
            if rest.contains(event) { eventTime = t; continue }
            guard rest.hasPrefix("\(node).stream "), !rest.contains(" ok ") else { continue }
            let bytes = String(rest.split(separator: " ").dropFirst().first ?? "")
            if eventTime == nil { before = (t, bytes) } else if let b = before, bytes != b.bytes { return t - b.t }
        }
        return nil
    }

    /// A node frozen in the middle of the stream (SIGSTOP: a hung machine that keeps its connections open) holds
    /// the chain back: it is dropped within the stall timeout, the chain is re-linked without it, the others finish.
    @Test func frozenNodeIsDroppedAndTheOthersFinish() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 3, rate: "100mbit", bigMiB: 160, transport: "  stall-timeout: 3s\n")
        defer {
            if let p = run.agents[2] { kill(p.processIdentifier, SIGCONT) }
            run.finish()
        }
        try run.startServer()
        for i in 1...3 { try run.startAgent(i) }
        #expect(run.waitFor("receiving from", in: "agent2.log", timeout: 120), "\(run.logs)")
        Thread.sleep(forTimeInterval: 4)
        if let p = run.agents[2] { kill(p.processIdentifier, SIGSTOP) }
        let status = run.waitForServer()
        #expect(status == 3, "expected partial success (3):\n\(run.logs)")
        let server = run.log("server.log")
        #expect(server.contains("node2 lost") || server.contains("node2 evicted"), "\(run.logs)")
        for i in [1, 3] {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
        }
    }

    /// A node whose disk nearly hangs (5 s per chunk; still alive, still answering heartbeats) holds the chain back
    /// once its window is full: its upstream's send stays blocked, it is evicted after transport.stall-timeout,
    /// reported KO, and the chain goes on without it. (A disk that is merely slower than the others is not evicted:
    /// the chain goes at its pace, as the KA method's did.)
    @Test func slowNodeIsEvicted() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 3, rate: "100mbit", bigMiB: 64, transport: "  stall-timeout: 3s\n  buffer: 4MiB\n")
        defer { run.finish() }
        try run.startServer()
        try run.startAgent(1)
        try run.startAgent(2, env: ["KAPLAN_TEST_SLOW_DISK_MS=5000"])
        try run.startAgent(3)
        let status = run.waitForServer()
        #expect(status == 3, "expected partial success (3):\n\(run.logs)")
        let server = run.log("server.log")
        #expect(server.contains("node2 evicted"), "\(run.logs)")
        #expect(server.contains("evicted so the other nodes could go on") || server.contains("held the chain back"), "\(run.logs)")
        #expect(run.waitForAgent(2) == 1, "the evicted agent must exit KO:\n\(run.log("agent2.log"))")
        for i in [1, 3] {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
        }
    }

    /// An agent with the wrong key gets nothing: no assignment, no chunk, its disk untouched; the session goes on.
    @Test func agentWithTheWrongKeyGetsNothing() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 2, joinTimeout: "15s")
        defer { run.finish() }
        var wrong = [UInt8](repeating: 0, count: 32)
        for i in wrong.indices { wrong[i] = UInt8.random(in: 0...255) }
        #expect(FileManager.default.createFile(atPath: run.path("wrong.key"), contents: Data(wrong), attributes: [.posixPermissions: 0o600]))
        try run.startServer()
        try run.startAgent(1)
        try run.startAgent(2, key: run.path("wrong.key"))
        let status = run.waitForServer(timeout: 120)
        #expect(status == 3, "\(run.logs)")
        #expect(run.waitForAgent(2) == 1, "\(run.logs)")
        #expect(run.log("agent2.log").contains("server-not-authenticated"), "\(run.logs)")
        #expect(run.log("server.log").contains("did-not-join") || run.log("server.log").contains("no agent joined"), "\(run.logs)")
        // The rogue's disk is still all zeros: nothing was written.
        let image = try FileHandle(forReadingFrom: URL(fileURLWithPath: run.path("n2.img")))
        let head = image.readData(ofLength: 1 << 20)
        #expect(head.allSatisfy { $0 == 0 })
        #expect(run.verify(1).ok, "\(run.verify(1).output)")
    }

    /// A congestion control the kernel does not have: the links keep the kernel's default, the deployment
    /// succeeds, and each link's closing line says what it used instead and why.
    @Test func unavailableCongestionControlKeepsTheKernelDefault() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 2, bigMiB: 16, transport: "  congestion-control: no_such_cc\n")
        defer { run.finish() }
        try run.startServer()
        try run.startAgent(1)
        try run.startAgent(2)
        #expect(run.waitForServer() == 0, "\(run.logs)")
        // The default inside the lab's namespaces (a new namespace takes the host's on this kernel line).
        let kernelDefault = run.lab.run(in: "g", ["/bin/cat", "/proc/sys/net/ipv4/tcp_congestion_control"], timeout: 10)
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        let said = "TCP \(kernelDefault): no_such_cc could not be set, No such file or directory (errno 2))"
        #expect(run.log("server.log").split(separator: "\n").contains { $0.contains("golden: served node1") && $0.contains(said) }, "\(run.logs)")
        #expect(run.log("agent1.log").split(separator: "\n").contains { $0.contains("node1: served node2") && $0.contains(said) }, "\(run.logs)")
        // And once, when the first link opens, before any byte of the stream.
        let early = "data links: TCP congestion control no_such_cc could not be set (No such file or directory (errno 2)); they send with this kernel's default, \(kernelDefault)"
        #expect(run.log("server.log").components(separatedBy: early).count == 2, "\(run.logs)")
        #expect(run.log("agent1.log").components(separatedBy: early).count == 2, "\(run.log("agent1.log"))")
        for i in 1...2 { #expect(run.verify(i).ok, "node\(i): \(run.verify(i).output)") }
    }

    /// A damaged chunk (one bit flipped as it arrives at node2) fails authentication; node2 asks for it again and
    /// finishes intact, and nothing damaged reaches node3.
    @Test func damagedChunkIsDetectedAndFetchedAgain() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 3, bigMiB: 32)
        defer { run.finish() }
        try run.startServer()
        try run.startAgent(1)
        try run.startAgent(2, env: ["KAPLAN_TEST_FLIP_CHUNK=3"])
        try run.startAgent(3)
        let status = run.waitForServer()
        #expect(status == 0, "\(run.logs)")
        #expect(run.log("agent2.log").contains("failed authentication"), "\(run.logs)")
        for i in 1...3 {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
        }
    }
}
