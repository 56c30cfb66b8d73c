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

    /// An agent with the wrong key gets nothing: no assignment, no chunk, its disk untouched; the session goes on.
    @Test func agentWithTheWrongKeyGetsNothing() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 2, joinTimeout: "15s")
        defer { run.finish() }
        var wrong = [UInt8](repeating: 0, count: 32)
        for i in wrong.indices { wrong[i] = UInt8.random(in: 0...255) }
        FileManager.default.createFile(atPath: run.path("wrong.key"), contents: Data(wrong), attributes: [.posixPermissions: 0o600])
        try run.startServer()
        try run.startAgent(1)
        try run.startAgent(2, key: run.path("wrong.key"))
        let status = run.waitForServer(timeout: 120)
        #expect(status == 3, "\(run.logs)")
        #expect(run.waitForAgent(2) == 1, "\(run.logs)")
        #expect(run.log("agent2.log").contains("does not know the session key") || run.log("agent2.log").contains("auth"), "\(run.logs)")
        #expect(run.log("server.log").contains("did-not-join") || run.log("server.log").contains("no agent joined"), "\(run.logs)")
        // The rogue's disk is still all zeros: nothing was written.
        let image = try FileHandle(forReadingFrom: URL(fileURLWithPath: run.path("n2.img")))
        let head = image.readData(ofLength: 1 << 20)
        #expect(head.allSatisfy { $0 == 0 })
        #expect(run.verify(1).ok, "\(run.verify(1).output)")
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
