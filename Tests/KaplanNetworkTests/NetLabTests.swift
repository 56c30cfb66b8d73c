import Foundation
import Testing

/// The network lab itself (root): nodes reach the golden and each other, nothing routes outside 10.213.0.0/16,
/// loss and shaping are where they should be, and `destroy()` leaves no namespace, interface or process behind.
/// No timing assertions: link speed is measured by bench/link-limit.sh.
@Suite(.enabled(if: NetLabGate.enabled)) struct NetLabTests {
    /// `ping -c1 -W1 ADDR` from `node`; true when the echo came back.
    static func ping(_ lab: NetLab, from node: String, _ address: String) -> NetLab.Outcome {
        lab.run(in: node, ["ping", "-n", "-c1", "-W1", address], timeout: 10)
    }

    @Test func nodesReachTheGoldenAndEachOther() throws {
        guard NetLabGate.ready() else { return }
        let lab = try NetLab.create(nodes: 3)
        defer { lab.destroy() }
        let golden = try lab.address(of: "g")
        #expect(golden == "10.213.0.1")
        #expect(try lab.address(of: "n1") == "10.213.1.1")
        #expect(try lab.address(of: "n3") == "10.213.1.3")
        #expect(throws: NetLab.Failure.self) { try lab.address(of: "n4") }
        for node in ["n1", "n2", "n3"] {
            let r = Self.ping(lab, from: node, golden)
            #expect(r.status == 0, "\(node) → golden \(golden): \(r)")
        }
        for (from, to) in [("n1", "n2"), ("n3", "n1"), ("n2", "n3")] {
            let r = Self.ping(lab, from: from, try lab.address(of: to))
            #expect(r.status == 0, "\(from) → \(to): \(r)")
        }
        let r = Self.ping(lab, from: "g", try lab.address(of: "n3"))
        #expect(r.status == 0, "golden → n3: \(r)")
        // `brd +`: the broadcast address is the /16's, not 0.0.0.0 (udpcast's rendezvous needs it).
        let addr = lab.run(in: "n2", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
        #expect(addr.output.contains("10.213.1.2/16 brd 10.213.255.255"), "n2's eth0: \(addr)")
    }

    @Test func nothingRoutesOutsideTheLab() throws {
        guard NetLabGate.ready() else { return }
        let lab = try NetLab.create(nodes: 2, multicast: true)
        defer { lab.destroy() }
        for node in ["g", "n1", "n2"] {
            for outside in ["10.214.0.1", "192.0.2.1", "10.0.0.1"] {
                let r = Self.ping(lab, from: node, outside)
                #expect(r.status != 0, "\(node) reached \(outside) outside 10.213.0.0/16: \(r)")
                #expect(r.output.contains("unreachable"), "\(node) → \(outside) should fail for want of a route: \(r)")
            }
            // Only the lab's own routes in any table: the /16 and the multicast route, no default route.
            let routes = lab.run(in: node, ["ip", "-4", "route", "show", "table", "all", "type", "unicast"]).output
                .split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
            #expect(routes.sorted() == ["10.213.0.0/16", "224.0.0.0/4"], "\(node)'s routes: \(routes)")
            // Two interfaces only: lo and the veth into the switch.
            let links = lab.run(in: node, ["ip", "-o", "link", "show"]).output.split(separator: "\n")
                .compactMap { $0.split(separator: ":").dropFirst().first?.trimmingCharacters(in: .whitespaces) }
                .map { $0.split(separator: "@").first.map(String.init) ?? $0 }
            #expect(links.sorted() == ["eth0", "lo"], "\(node)'s interfaces: \(links)")
        }
        // The switch has no address at all, so it routes nothing either; the bridge snoops IGMP and is the querier.
        let switchAddrs = lab.run(in: "switch", ["ip", "-4", "-o", "addr", "show", "scope", "global"])
        #expect(switchAddrs.status == 0 && switchAddrs.output.isEmpty, "the switch has addresses: \(switchAddrs)")
        let bridge = lab.run(in: "switch", ["ip", "-d", "link", "show", "br0"]).output
        #expect(bridge.contains("mcast_snooping 1"), "IGMP snooping is off: \(bridge)")
        #expect(bridge.contains("mcast_querier 1"), "the bridge is not the querier: \(bridge)")
    }

    @Test func fullLossDropsEverythingToThatNode() throws {
        guard NetLabGate.ready() else { return }
        let lab = try NetLab.create(nodes: 2, loss: 100)
        defer { lab.destroy() }
        let golden = try lab.address(of: "g")
        let n1 = try lab.address(of: "n1")
        // Every node's ingress drops everything: nothing reaches n1, and n1 hears no replies.
        #expect(Self.ping(lab, from: "g", n1).status != 0, "golden → n1 got through with 100 % loss")
        #expect(Self.ping(lab, from: "n1", golden).status != 0, "n1 → golden got a reply with 100 % loss")
        #expect(Self.ping(lab, from: "n2", n1).status != 0, "n2 → n1 got through with 100 % loss")
        // The golden's own ingress is never lossy: the loss rule exists in n1 only.
        let rules = lab.run(in: "g", ["nft", "list", "tables"])
        #expect(rules.status == 0 && !rules.output.contains("kaplanlab"), "the golden has a loss rule: \(rules)")
        // Removing n1's loss restores n1 (so the drops came from the rule, not from a broken lab); n2 stays cut off.
        try lab.setLoss("n1", percent: 0)
        let back = Self.ping(lab, from: "g", n1)
        #expect(back.status == 0, "golden → n1 after removing the loss: \(back)")
        #expect(Self.ping(lab, from: "g", try lab.address(of: "n2")).status != 0, "n2 lost its 100 % loss")
    }

    @Test func rateShapesBothDirectionsAndCanBeRemoved() throws {
        guard NetLabGate.ready() else { return }
        let lab = try NetLab.create(nodes: 1, rate: "100mbit")
        defer { lab.destroy() }
        // 100 Mbit/s × 1514/1538 = 98,439,531 bit/s; tc prints it as 98439Kbit.
        for (node, dev) in [("n1", "eth0"), ("switch", "n1"), ("g", "eth0"), ("switch", "g")] {
            let q = lab.run(in: node, ["tc", "qdisc", "show", "dev", dev]).output
            #expect(q.contains("tbf") && q.contains("rate 98439Kbit"), "\(node)/\(dev) is not shaped to 100 Mbit: \(q)")
        }
        try lab.setRate("n1", "1gbit")
        let fast = lab.run(in: "switch", ["tc", "qdisc", "show", "dev", "n1"]).output
        #expect(fast.contains("rate 984395Kbit") || fast.contains("rate 984Mbit"), "switch/n1 at 1 Gbit: \(fast)")
        try lab.setRate("n1", nil)
        for (node, dev) in [("n1", "eth0"), ("switch", "n1")] {
            let q = lab.run(in: node, ["tc", "qdisc", "show", "dev", dev]).output
            #expect(!q.contains("tbf"), "\(node)/\(dev) is still shaped after removing the rate: \(q)")
        }
        #expect(Self.ping(lab, from: "n1", try lab.address(of: "g")).status == 0)
    }

    @Test func destroyLeavesNoNamespaceInterfaceOrProcess() throws {
        guard NetLabGate.ready() else { return }
        let lab = try NetLab.create(nodes: 2, rate: "1gbit", loss: 1, multicast: true)
        let prefix = lab.name + "-"
        let namespaces = ["switch", "g", "n1", "n2"].map(lab.namespace(of:))
        // The network namespaces' identities (inode numbers), to find anything still living in them afterwards.
        var inodes: [UInt64] = []
        for ns in namespaces {
            var st = stat()
            #expect(stat("/run/netns/\(ns)", &st) == 0, "namespace \(ns) was not created")
            inodes.append(UInt64(st.st_ino))
        }
        let sleeper = try lab.spawn(in: "n1", ["sleep", "300"])
        let golden = try lab.spawn(in: "g", ["sleep", "300"])
        let pids = [sleeper.processIdentifier, golden.processIdentifier]
        // `ip netns exec` execs the command itself: the PID we hold is the sleep, inside n1's namespace.
        usleep(200_000)
        #expect(Self.comm(of: pids[0]) == "sleep", "PID \(pids[0]) runs \(Self.comm(of: pids[0]) ?? "nothing"), not sleep")
        #expect(Self.netns(of: pids[0]) == inodes[2], "the spawned process is not in \(namespaces[2])")

        lab.destroy()

        #expect(!sleeper.isRunning && !golden.isRunning)
        for pid in pids {
            #expect(kill(pid, 0) == -1 && errno == ESRCH, "PID \(pid) is still alive after destroy()")
        }
        let list = NetLab.command(NetLabGate.tool("ip")!, ["netns", "list"], timeout: 10).output
        #expect(!list.split(separator: "\n").contains { $0.hasPrefix(prefix) }, "namespaces left: \(list)")
        let links = NetLab.command(NetLabGate.tool("ip")!, ["-o", "link", "show"], timeout: 10).output
        #expect(!links.contains(prefix), "host interfaces mention the lab: \(links)")
        let left = Self.processes(inNamespaces: Set(inodes))
        #expect(left.isEmpty, "processes still in the lab's namespaces: \(left)")
        #expect(!FileManager.default.fileExists(atPath: "/run/kaplan-netlab/\(lab.name).env"), "state file left behind")
        // Idempotent: a second destroy and a second `down` do nothing and succeed.
        lab.destroy()
        let again = NetLab.command("/bin/bash", [NetLab.script.path, "down", lab.name], timeout: 30)
        #expect(again.status == 0, "second netlab.sh down: \(again)")
    }

    @Test func upRefusesATakenNameAndLeavesThatLabAlone() throws {
        guard NetLabGate.ready() else { return }
        let lab = try NetLab.create(nodes: 1)
        defer { lab.destroy() }
        let again = NetLab.command("/bin/bash", [NetLab.script.path, "up", lab.name, "3"], timeout: 60)
        #expect(again.status == 3, "up on an existing lab: \(again)")
        #expect(Self.ping(lab, from: "n1", try lab.address(of: "g")).status == 0, "the existing lab broke: \(again)")
        // Bad arguments fail before anything is created.
        let bad = NetLab.command("/bin/bash", [NetLab.script.path, "up", "kbad0", "2", "--rate", "fast"], timeout: 30)
        #expect(bad.status != 0 && bad.output.contains("rate 'fast'"), "bad rate: \(bad)")
        let list = NetLab.command(NetLabGate.tool("ip")!, ["netns", "list"], timeout: 10).output
        #expect(!list.contains("kbad0-"), "a refused up left namespaces: \(list)")
    }

    @Test func runKillsACommandThatOverrunsItsTimeout() throws {
        guard NetLabGate.ready() else { return }
        let lab = try NetLab.create(nodes: 1)
        defer { lab.destroy() }
        let r = lab.run(in: "n1", ["sleep", "60"], timeout: 1)
        #expect(r.timedOut && r.status == -1, "sleep 60 with a 1 s timeout: \(r)")
        let ok = lab.run(in: "n1", ["sh", "-c", "echo out; echo err >&2; exit 7"])
        #expect(!ok.timedOut && ok.status == 7 && ok.output.contains("out") && ok.output.contains("err"), "\(ok)")
    }

    // MARK: - /proc helpers

    static func comm(of pid: pid_t) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The inode of `pid`'s network namespace (what `stat /proc/PID/ns/net` reports), or nil.
    static func netns(of pid: pid_t) -> UInt64? {
        var st = stat()
        guard stat("/proc/\(pid)/ns/net", &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// PIDs (with their command names) whose network namespace is one of `inodes`.
    static func processes(inNamespaces inodes: Set<UInt64>) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.compactMap { pid in
            guard let ns = netns(of: pid), inodes.contains(ns) else { return nil }
            return "\(pid) (\(comm(of: pid) ?? "?"))"
        }
    }
}
