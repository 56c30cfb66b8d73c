import Foundation
import Testing

/// The multicast transport for real: `kaplan apply` multicasting from the golden namespace to `kaplan agent`s in
/// node namespaces on a bridge with IGMP snooping (10.213.0.0/16, group 239.255.213.7), loss made with nftables
/// on each node's ingress, loop-image disks, every surviving clone verified file by file against the golden (each
/// node's stream step also checked the stream's authenticated summary before it reported OK).
@Suite(.serialized, .enabled(if: NetLabGate.enabled)) struct MulticastLabTests {
    /// The golden's figure line: "multicast sent N datagrams (M MiB): F once, R repairs (P %)".
    static func sentLine(_ log: String) -> String {
        log.split(separator: "\n").first { $0.contains("multicast sent") }.map(String.init) ?? "(no multicast figures)"
    }

    /// Four receivers, lossless and with 1 % and 5 % of every node's incoming packets dropped (each node loses
    /// different ones): every node finishes and verifies; the repairs the golden sent are printed.
    @Test(arguments: [0.0, 1.0, 5.0]) func fourReceiversFinishAtLoss(loss: Double) throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 4, rate: "1gbit", bigMiB: 48, multicast: true, loss: loss)
        defer { run.finish() }
        try run.startServer()
        for i in 1...4 { try run.startAgent(i) }
        let status = run.waitForServer()
        #expect(status == 0, "\(run.logs)")
        let server = run.log("server.log")
        #expect(server.contains("multicast: streaming to 4 node(s)"), "\(run.logs)")
        print("multicast at \(loss) % loss, 4 receivers: \(Self.sentLine(server))")
        for i in 1...4 {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
            #expect(run.waitForAgent(i) == 0, "agent \(i) did not exit 0:\n\(run.log("agent\(i).log"))")
            #expect(run.log("agent\(i).log").contains("dropped 0 forged"), "node\(i): \(run.log("agent\(i).log"))")
        }
        if loss >= 5 {
            // At 5 % every node lost datagrams: the golden must have repaired some.
            #expect(!server.contains(" 0 repairs"), "\(Self.sentLine(server))")
        }
    }

    /// kill -9 of a receiver mid-stream: it is dropped at once (its control connection closes), reported KO with
    /// its step, the others never wait for it, finish and verify; exit 3 (partial success).
    @Test func killedReceiverIsDroppedAndTheOthersFinish() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 4, rate: "100mbit", bigMiB: 120, multicast: true)
        defer { run.finish() }
        try run.startServer()
        for i in 1...4 { try run.startAgent(i) }
        #expect(run.waitFor("multicast: streaming to 4 node(s)", in: "server.log", timeout: 120), "\(run.logs)")
        // 120 MiB at 100 Mbit/s take ~11 s: 4 s in, the victim is in the middle of the stream.
        Thread.sleep(forTimeInterval: 4)
        if let p = run.agents[2] { kill(p.processIdentifier, SIGKILL) }
        let status = run.waitForServer()
        #expect(status == 3, "expected partial success (3):\n\(run.logs)")
        let server = run.log("server.log")
        #expect(server.contains("node2.stream") && server.contains("the agent was lost"), "\(run.logs)")
        for i in [1, 3, 4] {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
        }
        let stall = ChainLabTests.stall(of: "node3", around: "node2 lost", in: server)
        print("multicast: node2 killed; node3 received nothing for at most \(stall.map { String(format: "%.1f", $0) } ?? "?") s")
    }

    /// A receiver that stops answering (SIGSTOP: its connections stay open) is dropped after
    /// transport.receiver-timeout (3 s), reported KO; the others finish and verify.
    @Test func frozenReceiverIsDroppedWithinTheReceiverTimeout() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 3, rate: "100mbit", bigMiB: 120, multicast: true)
        defer { run.finish() }
        try run.startServer()
        for i in 1...3 { try run.startAgent(i) }
        #expect(run.waitFor("multicast: streaming to 3 node(s)", in: "server.log", timeout: 120), "\(run.logs)")
        Thread.sleep(forTimeInterval: 3)
        let victim = run.agents[3]!.processIdentifier
        kill(victim, SIGSTOP)
        let status = run.waitForServer()
        kill(victim, SIGCONT)
        #expect(status == 3, "expected partial success (3):\n\(run.logs)")
        let server = run.log("server.log")
        #expect(server.contains("silent for 3."), "the frozen node must be dropped after 3 s of silence:\n\(run.logs)")
        for i in [1, 2] {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
        }
        if let stall = ChainLabTests.stall(of: "node1", around: "node3 lost", in: server) {
            print("multicast: node3 frozen; node1 received nothing for at most \(String(format: "%.1f", stall)) s")
        }
    }

    /// A node that joins after the stream started is deployed too: it gets what it missed by repair and verifies.
    @Test func lateJoinerGetsWhatItMissedAndFinishes() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 4, rate: "100mbit", bigMiB: 64, multicast: true)
        defer { run.finish() }
        try run.startServer(["--min-nodes", "3"])
        for i in 1...3 { try run.startAgent(i) }
        #expect(run.waitFor("multicast: streaming to 3 node(s)", in: "server.log", timeout: 120), "\(run.logs)")
        Thread.sleep(forTimeInterval: 2)
        try run.startAgent(4)
        let status = run.waitForServer()
        #expect(status == 0, "\(run.logs)")
        let server = run.log("server.log")
        #expect(server.contains("node4 joined after the start"), "\(run.logs)")
        print("multicast late join: \(Self.sentLine(server))")
        for i in 1...4 {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
        }
    }

    /// A namespace without the key floods the group during the stream: copies of real datagrams with one bit
    /// flipped or another chunk number, and datagrams of another session. Every node drops and counts them, writes
    /// only authenticated data, finishes and verifies.
    @Test func forgedDatagramsAreDroppedAndCounted() throws {
        guard NetLabGate.ready() else { return }
        let run = try ChainRun(nodes: 3, rate: "100mbit", bigMiB: 48, multicast: true, labNodes: 4)
        defer { run.finish() }
        let rogue = run.lab.namespace(of: "n4")
        let script = """
            import socket, struct, os, time
            group, port = "\(ChainRun.group)", \(run.port + 2)
            r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            r.bind((group, port))
            r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton("0.0.0.0"))
            r.settimeout(120)
            real = r.recv(2048)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sent = 0
            end = time.time() + 3
            while time.time() < end and sent < 6000:
                flipped = bytearray(real); flipped[20] ^= 0x01
                renumbered = bytearray(real); renumbered[11] ^= 0x01
                other = bytearray(real); other[2:6] = os.urandom(4)
                for d in (flipped, renumbered, other):
                    s.sendto(bytes(d), (group, port)); sent += 1
                time.sleep(0.002)
            print("forged", sent)
            """
        let forger = try Process.run(URL(fileURLWithPath: "/usr/bin/timeout"), arguments: ["150", "ip", "netns", "exec", rogue, "python3", "-c", script])
        defer { if forger.isRunning { kill(forger.processIdentifier, SIGKILL); forger.waitUntilExit() } }
        try run.startServer()
        for i in 1...3 { try run.startAgent(i) }
        let status = run.waitForServer()
        #expect(status == 0, "\(run.logs)")
        for i in 1...3 {
            let v = run.verify(i)
            #expect(v.ok, "node\(i): \(v.output)")
            #expect(run.waitForAgent(i) == 0)
            let log = run.log("agent\(i).log")
            let counts = Self.drops(log)
            #expect(counts.forged > 0 && counts.foreign > 0, "node\(i) must have dropped forged and foreign datagrams: \(log)")
            print("node\(i): dropped \(counts.forged) forged, \(counts.foreign) of another session")
        }
    }

    /// The forged and foreign counts of an agent's last multicast line.
    static func drops(_ log: String) -> (forged: Int, foreign: Int) {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("multicast:") && $0.contains("dropped") }) else { return (0, 0) }
        // "…; dropped N forged, M of another session or stream, K malformed"
        let words = line.split(separator: ";").last.map { $0.split(separator: " ") } ?? []
        func before(_ phrase: [Substring]) -> Int {
            guard phrase.count <= words.count else { return 0 }
            for i in 1...(words.count - phrase.count) where Array(words[i..<(i + phrase.count)]) == phrase {
                return Int(words[i - 1]) ?? 0
            }
            return 0
        }
        return (before(["forged,"]), before(["of", "another", "session"]))
    }
}
