/// The chain's fast engine: an exact chunk-level recurrence evaluated in time-cut sweeps, no event queue per chunk.
///
/// Chunk `k` crosses the hop into node `v` starting at
/// `start = max(avail, linkFree, notBefore, slot)`, where `avail` is when the upstream holds it, `linkFree` when
/// the previous chunk left the wire, `notBefore` the last re-link, and `slot` when `v`'s ring slot of chunk
/// `k − W` is released (written to `v`'s disk and forwarded downstream). It ends `bytes / rate` later and
/// arrives one latency after that; `v`'s disk writes chunks in order. Every dependency of a cell happens no
/// later than the cell's start, so visiting cells chunk by chunk, upstream first, is a valid evaluation order.
///
/// Faults change the chain only at known times (deaths, re-links, joins), so the engine sweeps the recurrence
/// up to the next such time (cells that start before it), applies the change, and sweeps on. Changes that are
/// only found while sweeping — a node reaching its kill fraction, a stall outlasting the timeout — lower the
/// horizon; if a cell already computed started after the found time, the sweep is rolled back (state copied
/// before the sweep) and redone up to it. Cost: O(nodes × chunks) per sweep, a handful of sweeps per fault.
/// Memory is laid out for the sweep: the ring is slot-major (all nodes' slot `k mod W` side by side) and each
/// node's hot fields sit in one record, so a sweep step walks memory in order.
struct NetworkChainModel {
    /// Chain pointers: no upstream / tail / waiting for a re-link / chunk served by the golden directly.
    private static let none = -1
    private static let tail = -1
    private static let detached = -2
    private static let bypass = -3

    /// One ring slot of one node: when the chunk in it arrived, was written, and was forwarded downstream
    /// (`.infinity`: not yet; 0: nothing to forward to).
    private struct Slot {
        var arrival = 0.0
        var written = 0.0
        var forwarded = 0.0
    }

    /// The fields a sweep reads and writes for every cell of a node.
    private struct Hot {
        var received = 0
        var up = NetworkChainModel.none
        var down = NetworkChainModel.tail
        var bypassEnd = 0
        var resendUntil = 0
        var sentCount = 0
        var linkFree = 0.0
        var diskFree = 0.0
        var notBefore = 0.0
        var resent = 0.0
        var holdBack = 0.0
        var maxHoldBack = 0.0
        var startTime = Double.nan
        var finishTime = Double.nan
    }

    /// What is needed to take back a node's last cell (a transfer cut by a death before it ended).
    private struct Undo {
        var chunk = -1
        var slot = Slot()
        var linkFree = 0.0
        var diskFree = 0.0
        var end = 0.0
        var source = 0
        var resent = 0.0
        var golden = 0.0
        var hold = 0.0
    }

    /// What the engine knows about every node, copied whole to roll a sweep back.
    private struct State {
        var ring: [Slot]
        var hot: [Hot]
        var undo: [Undo]
        var alive: [Bool]
        var joined: [Bool]
        var endTime: [Double]
        var reason: [NetworkNodeStatus.Reason?]
        var lastUpstream: [Int]
        var goldenSent = 0.0
    }

    /// A change to the chain at a known time.
    private struct Event {
        enum Kind: Int {
            case join = 0
            case death = 1
            case eviction = 2
            case relink = 3
        }
        var time: Double
        var kind: Kind
        var node: Int
        var cause: NetworkRelink.Cause
        var seq: Int
    }

    private let plan: NetworkPlan
    private let w: Int
    private let stride: Int
    private let chunkCount: Int
    private let latency: Double
    private let stallTimeout: Double
    private let diskRate: [Double]
    private let diskStalls: [Bool]
    private var order: [Int]
    private var position: [Int]
    private var st: State
    private var events: [Event] = []
    private var seq = 0
    private var discoveries: [Event] = []
    private var relinks: [NetworkRelink] = []
    private var deathTime: [Double]
    private var deathByFraction: [Bool]
    private var cutOut: [Bool]
    private var sweeps = 0
    private var rollbacks = 0
    private var rate = 0.0
    private var activeBuffer: [Int] = []
    private var nextBuffer: [Int] = []

    /// Prepares a run of `plan` (a chain scenario).
    init(plan: NetworkPlan) {
        self.plan = plan
        let n = plan.n
        w = plan.window
        stride = n + 1
        chunkCount = plan.chunkCount
        latency = plan.latency
        stallTimeout = plan.scenario.stallTimeout
        diskRate = plan.disks.map(\.rate)
        diskStalls = plan.disks.map { !$0.stalls.isEmpty }
        var late: [(Double, Int)] = []
        var onTime: [Int] = []
        let lateNodes = Set(plan.scenario.faults.compactMap { if case .lateJoin(let v, _) = $0 { v } else { nil } })
        for v in 1...n {
            if lateNodes.contains(v) { late.append((plan.joinTime[v], v)) } else { onTime.append(v) }
        }
        order = onTime + late.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map(\.1)
        position = Array(repeating: 0, count: n + 1)
        for (i, v) in order.enumerated() { position[v] = i }
        st = State(
            ring: Array(repeating: Slot(), count: (n + 1) * w), hot: Array(repeating: Hot(), count: n + 1),
            undo: Array(repeating: Undo(), count: n + 1),
            alive: Array(repeating: true, count: n + 1), joined: Array(repeating: false, count: n + 1),
            endTime: Array(repeating: .nan, count: n + 1), reason: Array(repeating: nil, count: n + 1),
            lastUpstream: Array(repeating: Self.none, count: n + 1))
        deathTime = Array(repeating: .nan, count: n + 1)
        deathByFraction = Array(repeating: false, count: n + 1)
        cutOut = Array(repeating: false, count: n + 1)
        var previous = 0
        for v in onTime {
            st.joined[v] = true
            st.hot[v].up = previous
            st.hot[previous].down = v
            previous = v
        }
        st.hot[previous].down = Self.tail
        for v in 1...n {
            if plan.killTime[v].isFinite { push(plan.killTime[v], .death, v, .death) }
            if plan.killAfterChunks[v] == 0 { push(plan.joinTime[v], .death, v, .death) }
            if lateNodes.contains(v) { push(plan.joinTime[v], .join, v, .join) }
        }
    }

    @inline(__always)
    private func slotIndex(_ v: Int, _ k: Int) -> Int { (k % w) * stride + v }

    // MARK: - Running

    /// Runs the chain to the end and reports every node's fate.
    mutating func run() -> NetworkOutcome {
        var guardCount = 0
        while true {
            guardCount += 1
            precondition(guardCount < 10 * (plan.n + 10) + 1000, "chain model did not converge")
            let horizon = events.first?.time ?? .infinity
            let saved = st
            discoveries.removeAll()
            let (lowered, latestStart) = sweep(until: horizon)
            if lowered < horizon && latestStart >= lowered {
                rollbacks += 1
                st = saved
                discoveries.removeAll()
                _ = sweep(until: lowered)
            }
            for found in discoveries { push(found.time, found.kind, found.node, found.cause) }
            guard let now = events.first?.time else { break }
            while let first = events.first, first.time == now {
                events.removeFirst()
                apply(first)
            }
        }
        return outcome()
    }

    private mutating func push(_ time: Double, _ kind: Event.Kind, _ node: Int, _ cause: NetworkRelink.Cause) {
        seq += 1
        let event = Event(time: time, kind: kind, node: node, cause: cause, seq: seq)
        let index =
            events.firstIndex {
                ($0.time, $0.kind.rawValue, $0.seq) > (event.time, event.kind.rawValue, event.seq)
            } ?? events.count
        events.insert(event, at: index)
    }

    // MARK: - Sweeping

    /// Computes every cell that starts before `horizon` (or before a change found on the way).
    /// Returns the horizon actually used and the latest start computed.
    private mutating func sweep(until horizon: Double) -> (Double, Double) {
        sweeps += 1
        var limit = horizon
        var latestStart = -Double.infinity
        var processes = 1
        for v in order where st.alive[v] && st.joined[v] { processes += 1 }
        rate = plan.chainRate(processes: processes)
        activeBuffer.removeAll(keepingCapacity: true)
        var k = chunkCount
        for v in order where st.alive[v] && st.joined[v] && st.hot[v].received < chunkCount {
            activeBuffer.append(v)
            k = min(k, st.hot[v].received)
        }
        while !activeBuffer.isEmpty && k < chunkCount {
            nextBuffer.removeAll(keepingCapacity: true)
            for v in activeBuffer {
                if st.hot[v].received > k {
                    nextBuffer.append(v)
                } else if cell(v, k, &limit, &latestStart), k + 1 < chunkCount {
                    nextBuffer.append(v)
                }
            }
            swap(&activeBuffer, &nextBuffer)
            k += 1
        }
        return (limit, latestStart)
    }

    /// Computes chunk `k` into node `v` if it starts before `limit`; false leaves `v` frozen for this sweep.
    @inline(__always)
    private mutating func cell(_ v: Int, _ k: Int, _ limit: inout Double, _ latestStart: inout Double) -> Bool {
        var hot = st.hot[v]
        let base = (k % w) * stride
        var source: Int
        var avail = 0.0
        if k < hot.bypassEnd {
            source = Self.bypass
        } else {
            let u = hot.up
            if u < 0 { return false }
            source = u
            if u > 0 {
                if st.hot[u].received <= k { return false }
                avail = st.ring[base + u].arrival
            }
        }
        let ready = max(avail, hot.linkFree, hot.notBefore)
        let old = st.ring[base + v]
        var slot = 0.0
        if k >= w {
            slot = max(old.written, old.forwarded)
            let deadline = ready + stallTimeout
            if slot > deadline && old.forwarded <= deadline {
                if deadline <= limit {
                    limit = deadline
                    discoveries.append(Event(time: deadline, kind: .eviction, node: v, cause: .eviction, seq: 0))
                }
                return false
            }
        }
        let start = max(ready, slot)
        if start >= limit { return false }
        let bytes = plan.bytes(ofChunk: k)
        let end = start + bytes / rate
        var hold = 0.0
        if k >= w && old.written > ready && old.written >= old.forwarded {
            hold = old.written - max(ready, old.forwarded)
        }

        let arrival = end + latency
        let diskStart = max(arrival, hot.diskFree)
        let written =
            diskStalls[v] ? plan.disks[v].finish(start: diskStart, bytes: bytes) : diskStart + bytes / diskRate[v]
        let extra = bytes * plan.tcpRetransmitFactor
        var resent = extra
        var golden = 0.0
        if source == Self.bypass {
            resent += bytes
            golden = bytes + extra
        } else {
            if k < hot.resendUntil { resent += bytes }
            if source == 0 { golden = bytes + extra }
        }
        st.undo[v] = Undo(
            chunk: k, slot: old, linkFree: hot.linkFree, diskFree: hot.diskFree, end: end, source: source,
            resent: resent, golden: golden, hold: hold)
        st.ring[base + v] = Slot(
            arrival: arrival, written: written, forwarded: hot.down == Self.tail ? 0 : .infinity)
        if source > 0 { st.ring[base + source].forwarded = end }
        if source >= 0 && st.hot[source].sentCount <= k { st.hot[source].sentCount = k + 1 }

        hot.linkFree = end
        hot.diskFree = written
        hot.resent += resent
        hot.holdBack += hold
        if hold > hot.maxHoldBack { hot.maxHoldBack = hold }
        if k == 0 { hot.startTime = start }
        hot.received = k + 1
        if k + 1 == chunkCount { hot.finishTime = written }
        st.hot[v] = hot
        st.goldenSent += golden
        if start > latestStart { latestStart = start }
        if let threshold = plan.killAfterChunks[v], threshold == k + 1 {
            discoveries.append(Event(time: end, kind: .death, node: v, cause: .death, seq: 1))
            if end < limit { limit = end }
        }
        return true
    }

    /// Undoes node `v`'s last cell (a transfer cut by a death before it ended).
    private mutating func revert(_ v: Int) {
        let undo = st.undo[v]
        let k = undo.chunk
        guard k >= 0 else { return }
        st.ring[slotIndex(v, k)] = undo.slot
        st.hot[v].linkFree = undo.linkFree
        st.hot[v].diskFree = undo.diskFree
        st.hot[v].resent -= undo.resent
        st.hot[v].holdBack -= undo.hold
        st.goldenSent -= undo.golden
        st.hot[v].received = k
        if k == 0 { st.hot[v].startTime = .nan }
        if k + 1 == chunkCount { st.hot[v].finishTime = .nan }
        st.undo[v].chunk = -1
    }

    // MARK: - Changes to the chain

    private mutating func apply(_ event: Event) {
        switch event.kind {
        case .death: remove(event.node, at: event.time, evicted: false)
        case .eviction: remove(event.node, at: event.time, evicted: true)
        case .relink: relink(from: event.node, at: event.time, cause: event.cause)
        case .join: join(event.node, at: event.time)
        }
    }

    /// Node `j` dies or is evicted at `time`: transfers in progress to or from it are lost, its downstream
    /// starves, and its upstream re-links after the detection delay (at once for an eviction).
    private mutating func remove(_ j: Int, at time: Double, evicted: Bool) {
        guard st.alive[j] else { return }
        st.alive[j] = false
        st.endTime[j] = time
        st.reason[j] = evicted ? .evictedStall : .killed
        if !evicted {
            deathTime[j] = time
            deathByFraction[j] = !(plan.killTime[j] == time)
        }
        guard st.joined[j] else { return }
        if st.undo[j].chunk >= 0 && st.undo[j].end > time { revert(j) }
        let v = st.hot[j].down
        if v > 0 {
            if st.undo[v].chunk >= 0 && st.undo[v].source == j && st.undo[v].end > time { revert(v) }
            st.hot[v].up = Self.none
        }
        let u = st.hot[j].up
        st.lastUpstream[j] = u
        st.hot[j].up = Self.none
        st.hot[j].down = Self.tail
        if u >= 0 {
            st.hot[u].down = Self.detached
            let delay = evicted ? 0 : plan.scenario.detectionDelay
            push(time + delay, .relink, u, evicted ? .eviction : .death)
        }
    }

    /// Node `u` noticed its downstream is gone: it links to the next live node, or becomes the tail.
    private mutating func relink(from u: Int, at time: Double, cause: NetworkRelink.Cause) {
        if u > 0 && !st.alive[u] { return }
        guard st.hot[u].down == Self.detached else { return }
        var removed: [Int] = []
        var target: Int?
        var p = u == 0 ? 0 : position[u] + 1
        while p < order.count {
            let c = order[p]
            if st.joined[c] {
                if st.alive[c] {
                    target = c
                    break
                }
                if !cutOut[c] {
                    cutOut[c] = true
                    removed.append(c)
                }
            }
            p += 1
        }
        guard let v = target else {
            st.hot[u].down = Self.tail
            if u > 0 {
                let have = st.hot[u].received
                for k in max(0, have - w)..<have {
                    let index = slotIndex(u, k)
                    if st.ring[index].forwarded.isInfinite { st.ring[index].forwarded = time }
                }
            }
            relinks.append(
                NetworkRelink(
                    time: time, from: u, to: nil, removed: removed, resumeChunk: chunkCount, chunksFromGolden: 0,
                    cause: cause))
            return
        }
        link(u, v, at: time, cause: cause, removed: removed)
    }

    /// A late joiner is appended after the chain's current tail.
    private mutating func join(_ x: Int, at time: Double) {
        guard st.alive[x] else { return }
        st.joined[x] = true
        var u = 0
        var p = position[x] - 1
        while p >= 0 {
            let c = order[p]
            if st.alive[c] && st.joined[c] {
                u = c
                break
            }
            p -= 1
        }
        if st.hot[u].down == Self.detached { return }
        link(u, x, at: time, cause: .join, removed: [])
    }

    /// `u` starts feeding `v` at `time` from `v`'s first missing chunk: out of `u`'s replay window when it
    /// still holds it, the older part straight from the golden otherwise.
    private mutating func link(_ u: Int, _ v: Int, at time: Double, cause: NetworkRelink.Cause, removed: [Int]) {
        let m = st.hot[v].received
        var low = 0
        if u > 0 {
            let have = st.hot[u].received
            low = max(0, have - w)
            for k in low..<have {
                let index = slotIndex(u, k)
                if k >= m {
                    st.ring[index].forwarded = .infinity
                } else if st.ring[index].forwarded.isInfinite {
                    st.ring[index].forwarded = time
                }
            }
        }
        let gapEnd = (u > 0 && m < low) ? low : m
        st.hot[v].bypassEnd = max(st.hot[v].bypassEnd, gapEnd)
        st.hot[v].resendUntil = max(st.hot[v].resendUntil, st.hot[u].sentCount)
        st.hot[v].up = u
        st.hot[u].down = v
        st.hot[v].notBefore = max(st.hot[v].notBefore, time)
        relinks.append(
            NetworkRelink(
                time: time, from: u, to: v, removed: removed, resumeChunk: m, chunksFromGolden: gapEnd - m,
                cause: cause))
    }

    // MARK: - Outcome

    private func outcome() -> NetworkOutcome {
        var nodes: [NetworkNodeOutcome] = []
        var makespan = 0.0
        var resentTotal = 0.0
        for v in 1...plan.n {
            let hot = st.hot[v]
            let finish = hot.finishTime
            let complete = hot.received == chunkCount && finish.isFinite
            let status: NetworkNodeStatus
            var end: Double?
            if complete && (st.alive[v] || finish <= st.endTime[v]) {
                status = .ok
                end = finish
                makespan = max(makespan, finish)
            } else if let reason = st.reason[v] {
                status = .ko(reason)
                end = st.endTime[v]
            } else {
                status = .ko(.stranded)
            }
            let upstream = st.alive[v] ? hot.up : st.lastUpstream[v]
            resentTotal += hot.resent
            nodes.append(
                NetworkNodeOutcome(
                    number: v, name: plan.name(v), status: status,
                    start: hot.startTime.isNaN ? nil : hot.startTime, finish: end,
                    bytesReceived: plan.bytes(inFirst: hot.received),
                    bytesResent: UInt64(max(0, hot.resent).rounded()),
                    upstream: upstream >= 0 ? upstream : nil))
        }
        var notes = [
            "hop rate \(NetworkText.rate(plan.chainRate(processes: plan.n + 1))) "
                + "(link \(NetworkText.rate(plan.linkBytesPerSecond)), TCP goodput "
                + "\(NetworkText.rate(plan.tcpGoodput)), CPU \(NetworkText.rate(plan.cpuLimit(processes: plan.n + 1))))",
            "relay ring / replay window \(w) chunks; \(sweeps) sweeps, \(rollbacks) rolled back",
        ]
        if plan.scenario.stallTimeout.isInfinite {
            notes.append("no stall timeout: a hung disk holds the chain forever")
        }
        let narrator = NetworkChainNarrator(
            plan: plan, relinks: relinks, deathTime: deathTime, deathByFraction: deathByFraction,
            endTime: st.endTime, reason: st.reason, received: st.hot.map(\.received), holdBack: st.hot.map(\.holdBack),
            maxHoldBack: st.hot.map(\.maxHoldBack), finishTime: st.hot.map(\.finishTime), lastUpstream: st.lastUpstream)
        return NetworkOutcome(
            scenario: plan.scenario, nodes: nodes, makespan: makespan,
            goldenBytesSent: UInt64(max(0, st.goldenSent).rounded()),
            bytesResent: UInt64(max(0, resentTotal).rounded()),
            relinks: relinks, faults: narrator.sentences(), notes: notes)
    }
}
