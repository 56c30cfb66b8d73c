/// The multicast engine: chunk by chunk in sender order, losses drawn per receiver per round, not per datagram.
///
/// Each chunk is one slice in udpcast's sync mode: the sender waits until every live receiver has room for
/// it (receivers write in order at their disk rate, so the slowest disk paces everyone), sends its datagrams
/// at `min(max rate, link, CPU)`, then collects NAKs one round trip later and resends the union of what is
/// missing, until nobody misses anything. A receiver's losses in a round are one Binomial(missing, p) draw;
/// the union of n receivers' missing sets of sizes xᵢ among P datagrams is its expectation
/// `P·(1 − Π(1 − xᵢ/P))` (exact for independent uniform sets). A receiver that stops answering holds the
/// round until it is dropped, `receiverTimeout` after it died. Late joiners get the chunks they missed in
/// catch-up passes after the main pass.
///
/// With `exact`, the same protocol runs datagram by datagram instead: every datagram is lost or not for every
/// receiver, the union is an explicit set, and a receiver completes when its last missing datagram arrives
/// (the reference engine the aggregate draws are checked against).
struct NetworkMulticastModel {
    /// One receiver's state.
    private struct Receiver {
        var joinTime: Double
        var killAt: Double
        var removed = false
        var joined = false
        var reason: NetworkNodeStatus.Reason?
        var endTime = Double.nan
        var writes = 0
        var diskFree = 0.0
        var chunksDone = 0
        var startTime = Double.nan
        var resent = 0.0
        var missing = 0
        var completedAt = 0.0
        var missedInMain = 0
        var catchUpPasses = 0
        var heldBack = 0.0
        var maxHeldBack = 0.0
        var stalledOthers = 0.0
        var diedAt = Double.nan
        var diedByFraction = false
    }

    private let plan: NetworkPlan
    private let exact: Bool
    private var lostSets: [[Int]]
    private let w: Int
    private let latency: Double
    private var rng: NetworkRandom
    private var firstRound: NetworkBinomial
    private var repairRound: NetworkBinomial
    private var receivers: [Receiver]
    /// Late joiners only: which chunks they already have.
    private var have: [[Bool]?]
    private var ring: [Double]
    private var mortal: [Int] = []
    private var senderFree = 0.0
    private var goldenSent = 0.0
    private var resentTotal = 0.0
    private var repairRounds = 0
    private var catchUpPasses = 0
    private var liveCount = 0
    private var needy: [Int] = []
    private var nextNeedy: [Int] = []
    private var done: [Int] = []
    private var targets: [Int] = []
    private var targetStamp: [Int]
    private var stamp = 0
    private let datagram: Double
    private let fec: (data: Int, parity: Int)?
    private let unitBytes: Double

    /// Prepares a run of `plan` (a multicast scenario), aggregate or datagram by datagram.
    init(plan: NetworkPlan, exact: Bool) {
        self.plan = plan
        self.exact = exact
        lostSets = exact ? Array(repeating: [], count: plan.n + 1) : []
        w = plan.window
        latency = plan.latency
        rng = NetworkRandom(seed: plan.scenario.seed)
        datagram = Double(plan.scenario.datagramSize.bytes)
        let p = plan.scenario.lossRate
        if let f = plan.scenario.fec, f.data >= 1 {
            fec = (f.data, max(0, f.parity))
            unitBytes = Double(f.data) * datagram
            firstRound = NetworkBinomial(p: NetworkBinomial.tail(n: f.data + f.parity, p: p, above: f.parity))
            repairRound = NetworkBinomial(p: 1 - NetworkBinomial.power(1 - p, f.data))
        } else {
            fec = nil
            unitBytes = datagram
            firstRound = NetworkBinomial(p: p)
            repairRound = NetworkBinomial(p: p)
        }
        let lateNodes = Set(plan.scenario.faults.compactMap { if case .lateJoin(let v, _) = $0 { v } else { nil } })
        receivers = (0...plan.n).map { v in
            var r = Receiver(joinTime: plan.joinTime[v], killAt: v == 0 ? .infinity : plan.killTime[v])
            if v > 0 && plan.killAfterChunks[v] == 0 {
                r.killAt = min(r.killAt, r.joinTime)
                r.diedByFraction = r.killAt == r.joinTime && !(plan.killTime[v] <= r.joinTime)
            }
            return r
        }
        ring = Array(repeating: 0, count: (plan.n + 1) * w)
        have = (0...plan.n).map { v in
            v > 0 && lateNodes.contains(v) ? Array(repeating: false, count: plan.chunkCount) : nil
        }
        targetStamp = Array(repeating: 0, count: plan.n + 1)
        for v in 1...plan.n where receivers[v].killAt.isFinite { mortal.append(v) }
    }

    // MARK: - Running

    /// Runs the main pass and the catch-up passes, and reports every receiver's fate.
    mutating func run() -> NetworkOutcome {
        for j in 0..<plan.chunkCount {
            admitJoiners()
            if liveCount == 0, let next = nextJoinTime() {
                senderFree = max(senderFree, next)
                admitJoiners()
            }
            if liveCount == 0 && nextJoinTime() == nil { break }
            targets.removeAll(keepingCapacity: true)
            for v in 1...plan.n where receivers[v].joined && !receivers[v].removed {
                if have[v] == nil || !have[v]![j] { targets.append(v) }
            }
            for v in 1...plan.n where !receivers[v].joined && have[v] != nil && !receivers[v].removed {
                receivers[v].missedInMain += 1
            }
            deliver(j)
        }
        while true {
            admitJoiners()
            let wanting = (1...plan.n).filter { v in
                let r = receivers[v]
                return !r.removed && have[v] != nil && r.chunksDone < plan.chunkCount
            }
            if wanting.isEmpty { break }
            if !wanting.contains(where: { receivers[$0].joined }) {
                guard let next = nextJoinTime() else { break }
                senderFree = max(senderFree, next)
                continue
            }
            catchUpPasses += 1
            var served = Set<Int>()
            for j in 0..<plan.chunkCount {
                admitJoiners()
                targets.removeAll(keepingCapacity: true)
                for v in wanting where receivers[v].joined && !receivers[v].removed && !have[v]![j] {
                    targets.append(v)
                    served.insert(v)
                }
                if !targets.isEmpty { deliver(j, catchUp: true) }
            }
            for v in served { receivers[v].catchUpPasses += 1 }
        }
        return outcome()
    }

    private func nextJoinTime() -> Double? {
        var next: Double?
        for v in 1...plan.n where !receivers[v].joined && !receivers[v].removed && receivers[v].joinTime > senderFree {
            next = min(next ?? .infinity, receivers[v].joinTime)
        }
        return next
    }

    /// Receivers whose join time has come become part of the session (dead ones never show up).
    private mutating func admitJoiners() {
        for v in 1...plan.n where !receivers[v].joined && !receivers[v].removed {
            if receivers[v].killAt < receivers[v].joinTime && receivers[v].killAt <= senderFree {
                receivers[v].removed = true
                receivers[v].reason = .killed
                receivers[v].endTime = receivers[v].killAt
                receivers[v].diedAt = receivers[v].killAt
                continue
            }
            if receivers[v].joinTime <= senderFree {
                receivers[v].joined = true
                liveCount += 1
            }
        }
    }

    private mutating func remove(_ v: Int, at time: Double, reason: NetworkNodeStatus.Reason) {
        guard !receivers[v].removed else { return }
        receivers[v].removed = true
        receivers[v].reason = reason
        receivers[v].endTime = time
        if receivers[v].joined { liveCount -= 1 }
    }

    // MARK: - One chunk

    /// Sends chunk `j` to `targets` with NAK repair rounds until every live target has it (catch-up sends count
    /// as resent: the sender puts those chunks on the wire a second time).
    private mutating func deliver(_ j: Int, catchUp: Bool = false) {
        let bytes = plan.bytes(ofChunk: j)
        stamp += 1
        for v in targets { targetStamp[v] = stamp }
        let rate = plan.multicastRate(processes: 1 + liveCount)
        let ready = senderFree
        var start = ready
        var blocker = -1
        var blockerSlot = ready
        let deadline = ready + plan.scenario.stallTimeout
        for v in targets where !receivers[v].removed {
            let r = receivers[v]
            let slot = r.writes >= w ? ring[v * w + r.writes % w] : 0
            if r.killAt < slot {
                let drop = r.killAt + plan.scenario.receiverTimeout
                receivers[v].stalledOthers += max(0, drop - ready)
                remove(v, at: drop, reason: .droppedTimeout)
                start = max(start, drop)
            } else if slot > deadline {
                receivers[v].heldBack += plan.scenario.stallTimeout
                receivers[v].maxHeldBack = max(receivers[v].maxHeldBack, plan.scenario.stallTimeout)
                remove(v, at: deadline, reason: .evictedStall)
                start = max(start, deadline)
            } else if slot > blockerSlot {
                blocker = v
                blockerSlot = slot
            }
        }
        if blocker >= 0 && blockerSlot > start {
            let wait = blockerSlot - max(ready, start)
            receivers[blocker].heldBack += wait
            receivers[blocker].maxHeldBack = max(receivers[blocker].maxHeldBack, blockerSlot - ready)
        }
        start = max(start, blockerSlot)

        let units: Int
        var air: Double
        let datagrams = Int((bytes / datagram).rounded(.up))
        if let fec {
            let blocks = (datagrams + fec.data - 1) / fec.data
            units = blocks
            air = (bytes + Double(blocks * fec.parity) * datagram) / rate
        } else {
            units = datagrams
            air = bytes / rate
        }
        goldenSent += air * rate
        if catchUp { resentTotal += air * rate }
        let roundEnd = start + air
        let feedback =
            exact
            ? exactRounds(units: units, start: start, roundEnd: roundEnd, rate: rate)
            : aggregateRounds(units: units, start: start, roundEnd: roundEnd, rate: rate)
        senderFree = feedback
        for v in done where !receivers[v].removed {
            complete(v, chunk: j, bytes: bytes)
        }
    }

    /// Repair rounds with one Binomial draw per receiver per round and the expected union; returns when the
    /// sender has the last round's feedback.
    private mutating func aggregateRounds(units: Int, start: Double, roundEnd firstEnd: Double, rate: Double) -> Double
    {
        var roundEnd = firstEnd
        needy.removeAll(keepingCapacity: true)
        done.removeAll(keepingCapacity: true)
        for v in targets where !receivers[v].removed && receivers[v].killAt > roundEnd {
            if receivers[v].startTime.isNaN { receivers[v].startTime = start }
            let lost = firstRound.sample(units, &rng)
            if lost == 0 {
                receivers[v].completedAt = roundEnd + latency
                done.append(v)
            } else {
                receivers[v].missing = lost
                needy.append(v)
            }
        }
        var feedback = collect(after: roundEnd)
        var population = Double(units)
        let repairAir = unitBytes / rate
        while !needy.isEmpty {
            needy.removeAll { receivers[$0].removed }
            if needy.isEmpty { break }
            let union = Self.union(needy.map { receivers[$0].missing }, population: population)
            repairRounds += 1
            resentTotal += Double(union) * unitBytes
            goldenSent += Double(union) * unitBytes
            roundEnd = feedback + Double(union) * repairAir
            nextNeedy.removeAll(keepingCapacity: true)
            for v in needy where receivers[v].killAt > roundEnd {
                receivers[v].resent += Double(receivers[v].missing) * unitBytes
                let still = repairRound.sample(receivers[v].missing, &rng)
                if still == 0 {
                    receivers[v].completedAt = roundEnd + latency
                    done.append(v)
                } else {
                    receivers[v].missing = still
                    nextNeedy.append(v)
                }
            }
            swap(&needy, &nextNeedy)
            population = Double(union)
            feedback = collect(after: roundEnd)
        }
        return feedback
    }

    /// Repair rounds datagram by datagram: explicit lost sets, explicit union, exact completion times.
    private mutating func exactRounds(units: Int, start: Double, roundEnd firstEnd: Double, rate: Double) -> Double {
        var roundEnd = firstEnd
        needy.removeAll(keepingCapacity: true)
        done.removeAll(keepingCapacity: true)
        for v in targets where !receivers[v].removed && receivers[v].killAt > roundEnd {
            if receivers[v].startTime.isNaN { receivers[v].startTime = start }
            var lost: [Int] = []
            for unit in 0..<units where rng.chance(firstRound.p) { lost.append(unit) }
            if lost.isEmpty {
                receivers[v].completedAt = roundEnd + latency
                done.append(v)
            } else {
                lostSets[v] = lost
                needy.append(v)
            }
        }
        var feedback = collect(after: roundEnd)
        let repairAir = unitBytes / rate
        while !needy.isEmpty {
            needy.removeAll { receivers[$0].removed }
            if needy.isEmpty { break }
            let union = Array(Set(needy.flatMap { lostSets[$0] })).sorted()
            var slot: [Int: Int] = [:]
            for (i, unit) in union.enumerated() { slot[unit] = i }
            repairRounds += 1
            resentTotal += Double(union.count) * unitBytes
            goldenSent += Double(union.count) * unitBytes
            let roundStart = feedback
            roundEnd = roundStart + Double(union.count) * repairAir
            nextNeedy.removeAll(keepingCapacity: true)
            for v in needy where receivers[v].killAt > roundEnd {
                receivers[v].resent += Double(lostSets[v].count) * unitBytes
                var still: [Int] = []
                var last = roundStart
                for unit in lostSets[v] {
                    if rng.chance(repairRound.p) {
                        still.append(unit)
                    } else {
                        last = max(last, roundStart + Double(slot[unit]! + 1) * repairAir)
                    }
                }
                if still.isEmpty {
                    receivers[v].completedAt = last + latency
                    done.append(v)
                } else {
                    lostSets[v] = still
                    nextNeedy.append(v)
                }
            }
            swap(&needy, &nextNeedy)
            feedback = collect(after: roundEnd)
        }
        return feedback
    }

    /// The sender's NAK collection after a round ending at `roundEnd`: a receiver that died before it could
    /// answer keeps the sender waiting until it is dropped, `receiverTimeout` after it died.
    private mutating func collect(after roundEnd: Double) -> Double {
        var feedback = roundEnd + 2 * latency
        for v in mortal where !receivers[v].removed && receivers[v].joined {
            let died = receivers[v].killAt
            guard died < roundEnd + latency else { continue }
            guard targetStamp[v] == stamp else { continue }
            let drop = died + plan.scenario.receiverTimeout
            receivers[v].stalledOthers += max(0, drop - feedback)
            receivers[v].diedAt = died
            remove(v, at: drop, reason: .droppedTimeout)
            feedback = max(feedback, drop)
        }
        return feedback
    }

    /// Receiver `v` has all of chunk `j`: it goes to the disk queue; a kill fraction may fire.
    private mutating func complete(_ v: Int, chunk j: Int, bytes: Double) {
        let at = receivers[v].completedAt
        let written = plan.disks[v].finish(start: max(at, receivers[v].diskFree), bytes: bytes)
        ring[v * w + receivers[v].writes % w] = written
        receivers[v].writes += 1
        receivers[v].diskFree = written
        receivers[v].chunksDone += 1
        if have[v] != nil { have[v]![j] = true }
        if let threshold = plan.killAfterChunks[v], threshold == receivers[v].chunksDone, at < receivers[v].killAt {
            receivers[v].killAt = at
            receivers[v].diedByFraction = true
            if !mortal.contains(v) { mortal.append(v) }
        }
    }

    /// Expected size of the union of independent uniform subsets of sizes `sizes` among `population` items,
    /// rounded and kept between the largest subset and the sum of the subsets.
    static func union(_ sizes: [Int], population: Double) -> Int {
        guard let largest = sizes.max() else { return 0 }
        if sizes.count == 1 { return largest }
        var keep = 1.0
        var sum = 0
        for x in sizes {
            keep *= 1 - Double(x) / population
            sum += x
        }
        let expected = Int((population * (1 - keep)).rounded())
        return min(max(expected, largest), min(sum, Int(population)))
    }

    // MARK: - Outcome

    private mutating func outcome() -> NetworkOutcome {
        var nodes: [NetworkNodeOutcome] = []
        var makespan = 0.0
        for v in 1...plan.n {
            var r = receivers[v]
            let complete = r.chunksDone == plan.chunkCount && r.diskFree.isFinite
            let status: NetworkNodeStatus
            var finish: Double?
            if r.removed, let reason = r.reason {
                status = .ko(reason)
                finish = r.endTime
            } else if complete && r.diskFree <= r.killAt {
                status = .ok
                finish = r.diskFree
                makespan = max(makespan, r.diskFree)
            } else if r.killAt.isFinite {
                r.reason = .killed
                r.endTime = r.killAt
                r.diedAt = r.killAt
                status = .ko(.killed)
                finish = r.killAt
            } else {
                status = .ko(.stranded)
            }
            if r.diedAt.isNaN && r.killAt.isFinite && r.reason == .droppedTimeout { r.diedAt = r.killAt }
            if r.reason == .killed && r.diedAt.isNaN { r.diedAt = r.killAt }
            receivers[v] = r
            nodes.append(
                NetworkNodeOutcome(
                    number: v, name: plan.name(v), status: status, start: r.startTime.isNaN ? nil : r.startTime,
                    finish: finish, bytesReceived: plan.bytes(inFirst: r.chunksDone),
                    bytesResent: UInt64(r.resent.rounded()), upstream: nil))
        }
        let rate = plan.multicastRate(processes: plan.n + 1)
        var notes = [
            "sender rate \(NetworkText.rate(rate)) (link \(NetworkText.rate(plan.linkBytesPerSecond)), "
                + "CPU \(NetworkText.rate(plan.cpuLimit(processes: plan.n + 1))))",
            "\(repairRounds) repair rounds over \(plan.chunkCount) chunks; \(catchUpPasses) catch-up passes",
        ]
        if let fec {
            notes.append("FEC \(fec.data)+\(fec.parity): a block fails with p=\(firstRound.p) and is resent whole")
        }
        return NetworkOutcome(
            scenario: plan.scenario, nodes: nodes, makespan: makespan, goldenBytesSent: UInt64(goldenSent.rounded()),
            bytesResent: UInt64(resentTotal.rounded()), relinks: [],
            faults: plan.scenario.faults.map { narrate($0, nodes: nodes) }, notes: notes)
    }

    private func narrate(_ fault: NetworkFault, nodes: [NetworkNodeOutcome]) -> NetworkFaultOutcome {
        let secs = { (t: Double) in NetworkText.short(t) + "s" }
        let v = fault.node
        let r = receivers[v]
        let name = plan.name(v)
        let held = NetworkText.percent(Double(plan.bytes(inFirst: r.chunksDone)) / plan.streamBytes)
        func death(_ head: String, _ t: Double) -> String {
            if nodes[v - 1].status.isOK { return head + " after it had finished: no effect" }
            if r.reason == .droppedTimeout {
                return head + ": the sender dropped it at t=\(secs(r.endTime)) after "
                    + "\(NetworkText.short(r.endTime - t)) s of silence (receiver timeout); "
                    + "the others waited \(NetworkText.short(r.stalledOthers)) s"
            }
            return head + " holding \(held): the sender had nothing more to send it, so nobody waited"
        }
        switch fault {
        case .killAtFraction(_, let fraction):
            let wanted = min(plan.chunkCount, max(0, Int((fraction * plan.streamBytes / plan.chunkBytes).rounded(.up))))
            guard r.diedByFraction, plan.killAfterChunks[v] == wanted, r.diedAt.isFinite else {
                return NetworkFaultOutcome(
                    fault: fault, time: nil, sentence: "\(name) kill at \(NetworkText.percent(fraction)) never fired")
            }
            return NetworkFaultOutcome(
                fault: fault, time: r.diedAt,
                sentence: death("\(name) killed at \(NetworkText.percent(fraction)) (t=\(secs(r.diedAt)))", r.diedAt))
        case .killAtTime(_, let time):
            guard !r.diedByFraction, r.diedAt == time else {
                return NetworkFaultOutcome(
                    fault: fault, time: nil, sentence: "\(name) kill at t=\(secs(time)) never fired")
            }
            return NetworkFaultOutcome(
                fault: fault, time: time, sentence: death("\(name) killed at t=\(secs(time))", time))
        case .stall(_, let time, let duration):
            let span = duration.isInfinite ? "for good" : "for \(NetworkText.short(duration)) s"
            let head = "\(name)'s disk stalled at t=\(secs(time)) \(span)"
            if r.reason == .evictedStall {
                return NetworkFaultOutcome(
                    fault: fault, time: time,
                    sentence: head + ": evicted at t=\(secs(r.endTime)) after holding the sender back "
                        + "\(NetworkText.short(plan.scenario.stallTimeout)) s")
            }
            if r.maxHeldBack <= 0 {
                return NetworkFaultOutcome(
                    fault: fault, time: time, sentence: head + ": its buffer absorbed it; the sender never waited")
            }
            return NetworkFaultOutcome(
                fault: fault, time: time,
                sentence: head + ": it held the sender back \(NetworkText.short(r.maxHeldBack)) s, "
                    + "within the stall timeout")
        case .slowDisk(_, let rate):
            let head = "\(name)'s disk writes at \(NetworkText.rate(rate))"
            if r.reason == .evictedStall {
                return NetworkFaultOutcome(fault: fault, time: 0, sentence: head + ": evicted at t=\(secs(r.endTime))")
            }
            if r.heldBack <= 0 {
                return NetworkFaultOutcome(fault: fault, time: 0, sentence: head + ": it never held the sender back")
            }
            return NetworkFaultOutcome(
                fault: fault, time: 0,
                sentence: head + ": it paced the sender, holding it back \(NetworkText.short(r.heldBack)) s in all")
        case .lateJoin(_, let time):
            if !r.joined {
                return NetworkFaultOutcome(
                    fault: fault, time: nil, sentence: "\(name) never joined: it was killed at t=\(secs(r.killAt))")
            }
            var text = "\(name) joined late at t=\(secs(time))"
            if r.missedInMain > 0 {
                text +=
                    ": it missed \(NetworkText.chunks(0..<r.missedInMain)) and got them in "
                    + "\(r.catchUpPasses) catch-up pass\(r.catchUpPasses == 1 ? "" : "es")"
            } else {
                text += " before the first chunk: it missed nothing"
            }
            if let finish = nodes[v - 1].finish, nodes[v - 1].status.isOK { text += "; finished at t=\(secs(finish))" }
            return NetworkFaultOutcome(fault: fault, time: time, sentence: text)
        }
    }
}
