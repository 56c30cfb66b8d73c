/// The chain's reference engine: a plain event-queue simulation, one chunk transfer at a time, in time order.
///
/// It knows nothing of sweeps or rollbacks: after every batch of simultaneous events it starts every transfer
/// whose conditions hold *now*. Slow (a sorted event list, every node re-examined after every event), meant
/// for a few nodes and a few dozen chunks, to check `NetworkChainModel` against.
struct NetworkChainReference {
    private enum Kind: Int {
        case transferEnd = 0
        case arrival, written, join, death, stallCheck, relink
    }

    private struct Event {
        var time: Double
        var kind: Kind
        var node: Int
        var chunk: Int
        var source: Int
        var cause: NetworkRelink.Cause
        var token: Int
        var seq: Int
    }

    private static let golden = 0
    private static let bypass = -3

    private let plan: NetworkPlan
    private let k: Int
    private let w: Int
    private var events: [Event] = []
    private var seq = 0
    private var now = 0.0
    private var order: [Int] = []
    private var position: [Int]

    private var alive: [Bool]
    private var joined: [Bool]
    private var up: [Int?]
    private var down: [Int?]
    private var downDetached: [Bool]
    private var received: [Int]
    private var arrivedAt: [[Double]]
    private var writtenAt: [[Double]]
    private var forwardedAt: [[Double]]
    private var diskFree: [Double]
    private var busyToken: [Int?]
    private var notBefore: [Double]
    private var bypassEnd: [Int]
    private var resendUntil: [Int]
    private var sentCount: [Int]
    private var blockedSince: [(chunk: Int, since: Double)?]
    private var endTime: [Double]
    private var reason: [NetworkNodeStatus.Reason?]
    private var lastUpstream: [Int]
    private var startTime: [Double]
    private var finishTime: [Double]
    private var resentTo: [Double]
    private var goldenSent = 0.0
    private var holdBack: [Double]
    private var maxHoldBack: [Double]
    private var inFlightHold: [Double]
    private var deathTime: [Double]
    private var deathByFraction: [Bool]
    private var cutOut: [Bool]
    private var relinks: [NetworkRelink] = []
    private var nextToken = 0

    /// Prepares a run of `plan` (a chain scenario).
    init(plan: NetworkPlan) {
        self.plan = plan
        let n = plan.n
        k = plan.chunkCount
        w = plan.window
        position = Array(repeating: 0, count: n + 1)
        alive = Array(repeating: true, count: n + 1)
        joined = Array(repeating: false, count: n + 1)
        up = Array(repeating: nil, count: n + 1)
        down = Array(repeating: nil, count: n + 1)
        downDetached = Array(repeating: false, count: n + 1)
        received = Array(repeating: 0, count: n + 1)
        let never = Array(repeating: Double.infinity, count: plan.chunkCount)
        arrivedAt = Array(repeating: never, count: n + 1)
        writtenAt = Array(repeating: never, count: n + 1)
        forwardedAt = Array(repeating: never, count: n + 1)
        diskFree = Array(repeating: 0, count: n + 1)
        busyToken = Array(repeating: nil, count: n + 1)
        notBefore = Array(repeating: 0, count: n + 1)
        bypassEnd = Array(repeating: 0, count: n + 1)
        resendUntil = Array(repeating: 0, count: n + 1)
        sentCount = Array(repeating: 0, count: n + 1)
        blockedSince = Array(repeating: nil, count: n + 1)
        endTime = Array(repeating: .nan, count: n + 1)
        reason = Array(repeating: nil, count: n + 1)
        lastUpstream = Array(repeating: -1, count: n + 1)
        startTime = Array(repeating: .nan, count: n + 1)
        finishTime = Array(repeating: .nan, count: n + 1)
        resentTo = Array(repeating: 0, count: n + 1)
        holdBack = Array(repeating: 0, count: n + 1)
        maxHoldBack = Array(repeating: 0, count: n + 1)
        inFlightHold = Array(repeating: 0, count: n + 1)
        deathTime = Array(repeating: .nan, count: n + 1)
        deathByFraction = Array(repeating: false, count: n + 1)
        cutOut = Array(repeating: false, count: n + 1)

        let lateNodes = plan.scenario.faults.compactMap { f -> (Double, Int)? in
            if case .lateJoin(let v, let t) = f { (t, v) } else { nil }
        }
        let late = Set(lateNodes.map(\.1))
        let onTime = (1...n).filter { !late.contains($0) }
        order = onTime + lateNodes.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map(\.1)
        for (i, v) in order.enumerated() { position[v] = i }
        var previous = Self.golden
        for v in onTime {
            joined[v] = true
            up[v] = previous
            down[previous] = v
            previous = v
        }
        for v in 1...n {
            if plan.killTime[v].isFinite { schedule(plan.killTime[v], .death, node: v) }
            if plan.killAfterChunks[v] == 0 { schedule(plan.joinTime[v], .death, node: v) }
            if late.contains(v) { schedule(plan.joinTime[v], .join, node: v) }
        }
    }

    private mutating func schedule(
        _ time: Double, _ kind: Kind, node: Int, chunk: Int = 0, source: Int = 0, cause: NetworkRelink.Cause = .death,
        token: Int = 0
    ) {
        seq += 1
        let e = Event(
            time: time, kind: kind, node: node, chunk: chunk, source: source, cause: cause, token: token, seq: seq)
        let index =
            events.firstIndex { ($0.time, $0.kind.rawValue, $0.seq) > (e.time, e.kind.rawValue, e.seq) } ?? events.count
        events.insert(e, at: index)
    }

    /// Runs until nothing more can happen.
    mutating func run() -> NetworkOutcome {
        pump()
        while let first = events.first {
            now = first.time
            while let e = events.first, e.time == now {
                events.removeFirst()
                handle(e)
            }
            pump()
        }
        return outcome()
    }

    private var rate: Double {
        var processes = 1
        for v in 1...plan.n where alive[v] && joined[v] { processes += 1 }
        return plan.chainRate(processes: processes)
    }

    // MARK: - Starting transfers

    /// Starts every transfer whose conditions hold now, and arms stall checks for nodes blocked by their disk.
    private mutating func pump() {
        var changed = true
        while changed {
            changed = false
            for v in order where tryStart(v) { changed = true }
        }
    }

    private mutating func tryStart(_ v: Int) -> Bool {
        guard alive[v], joined[v], busyToken[v] == nil, received[v] < k, now >= notBefore[v] else {
            blockedSince[v] = nil
            return false
        }
        let chunk = received[v]
        let source: Int
        if chunk < bypassEnd[v] {
            source = Self.bypass
        } else if let u = up[v], u == Self.golden || (alive[u] && arrivedAt[u][chunk] <= now) {
            source = u
        } else {
            blockedSince[v] = nil
            return false
        }
        if chunk >= w {
            let old = chunk - w
            let free = writtenAt[v][old] <= now && forwardedAt[v][old] <= now
            if !free {
                if blockedSince[v]?.chunk != chunk {
                    blockedSince[v] = (chunk, now)
                    if plan.scenario.stallTimeout.isFinite {
                        schedule(now + plan.scenario.stallTimeout, .stallCheck, node: v, chunk: chunk)
                    }
                }
                return false
            }
            if let blocked = blockedSince[v], blocked.chunk == chunk {
                let forwardDone = max(blocked.since, forwardedAt[v][old])
                let hold = writtenAt[v][old] > forwardDone ? writtenAt[v][old] - forwardDone : 0
                holdBack[v] += hold
                maxHoldBack[v] = max(maxHoldBack[v], hold)
                inFlightHold[v] = hold
            }
        }
        if chunk < w || blockedSince[v]?.chunk != chunk { inFlightHold[v] = 0 }
        blockedSince[v] = nil
        nextToken += 1
        busyToken[v] = nextToken
        forwardedAt[v][chunk] = down[v] == nil && !downDetached[v] ? 0 : .infinity
        if source >= 0 { sentCount[source] = max(sentCount[source], chunk + 1) }
        if chunk == 0 { startTime[v] = now }
        schedule(
            now + plan.bytes(ofChunk: chunk) / rate, .transferEnd, node: v, chunk: chunk, source: source,
            token: nextToken)
        return true
    }

    // MARK: - Events

    private mutating func handle(_ e: Event) {
        switch e.kind {
        case .transferEnd: transferEnded(e)
        case .arrival: arrivedAt[e.node][e.chunk] = now
        case .written: break
        case .death: remove(e.node, evicted: false)
        case .stallCheck: stallCheck(e.node, chunk: e.chunk)
        case .relink: relink(from: e.node, cause: e.cause)
        case .join: join(e.node)
        }
    }

    private mutating func transferEnded(_ e: Event) {
        let v = e.node
        let chunk = e.chunk
        if e.source > 0 { forwardedAt[e.source][chunk] = now }
        guard busyToken[v] == e.token else { return }
        busyToken[v] = nil
        guard alive[v] else { return }
        let bytes = plan.bytes(ofChunk: chunk)
        received[v] = chunk + 1
        let arrival = now + plan.latency
        schedule(arrival, .arrival, node: v, chunk: chunk)
        let written = plan.disks[v].finish(start: max(arrival, diskFree[v]), bytes: bytes)
        diskFree[v] = written
        writtenAt[v][chunk] = written
        if written.isFinite { schedule(written, .written, node: v, chunk: chunk) }
        if chunk + 1 == k { finishTime[v] = written }
        let extra = bytes * plan.tcpRetransmitFactor
        resentTo[v] += extra
        if e.source == Self.bypass {
            resentTo[v] += bytes
            goldenSent += bytes + extra
        } else {
            if chunk < resendUntil[v] { resentTo[v] += bytes }
            if e.source == Self.golden { goldenSent += bytes + extra }
        }
        if let threshold = plan.killAfterChunks[v], threshold == chunk + 1 {
            schedule(now, .death, node: v)
        }
    }

    private mutating func stallCheck(_ v: Int, chunk: Int) {
        guard alive[v], let blocked = blockedSince[v], blocked.chunk == chunk,
            now == blocked.since + plan.scenario.stallTimeout
        else { return }
        let old = chunk - w
        guard writtenAt[v][old] > now, forwardedAt[v][old] <= now else { return }
        remove(v, evicted: true)
    }

    private mutating func remove(_ j: Int, evicted: Bool) {
        guard alive[j] else { return }
        alive[j] = false
        endTime[j] = now
        reason[j] = evicted ? .evictedStall : .killed
        if !evicted {
            deathTime[j] = now
            deathByFraction[j] = plan.killTime[j] != now
        }
        guard joined[j] else { return }
        busyToken[j] = nil
        if let v = down[j] {
            if let token = busyToken[v], let e = events.first(where: { $0.kind == .transferEnd && $0.token == token }),
                e.source == j
            {
                busyToken[v] = nil
                holdBack[v] -= inFlightHold[v]
            }
            up[v] = nil
        }
        lastUpstream[j] = up[j] ?? -1
        if let u = up[j] {
            down[u] = nil
            downDetached[u] = true
            schedule(
                now + (evicted ? 0 : plan.scenario.detectionDelay), .relink, node: u,
                cause: evicted ? .eviction : .death)
        }
        up[j] = nil
        down[j] = nil
    }

    private mutating func relink(from u: Int, cause: NetworkRelink.Cause) {
        if u > 0 && !alive[u] { return }
        guard downDetached[u] else { return }
        var removed: [Int] = []
        var target: Int?
        for c in order[(u == 0 ? 0 : position[u] + 1)...] where joined[c] {
            if alive[c] {
                target = c
                break
            }
            if !cutOut[c] {
                cutOut[c] = true
                removed.append(c)
            }
        }
        downDetached[u] = false
        guard let v = target else {
            if u > 0 {
                let upper = held(u)
                for chunk in max(0, upper - w)..<upper where forwardedAt[u][chunk].isInfinite {
                    forwardedAt[u][chunk] = now
                }
            }
            relinks.append(
                NetworkRelink(
                    time: now, from: u, to: nil, removed: removed, resumeChunk: k, chunksFromGolden: 0, cause: cause))
            return
        }
        link(u, v, cause: cause, removed: removed)
    }

    /// Chunks a node holds or is receiving: its ring (the replay window) counts the chunk on the wire.
    private func held(_ v: Int) -> Int { received[v] + (busyToken[v] == nil ? 0 : 1) }

    private mutating func join(_ x: Int) {
        guard alive[x] else { return }
        joined[x] = true
        let before = order[..<position[x]].last { alive[$0] && joined[$0] } ?? Self.golden
        if downDetached[before] { return }
        link(before, x, cause: .join, removed: [])
    }

    private mutating func link(_ u: Int, _ v: Int, cause: NetworkRelink.Cause, removed: [Int]) {
        let m = held(v)
        var low = 0
        if u > 0 {
            let upper = held(u)
            low = max(0, upper - w)
            for chunk in low..<upper {
                if chunk >= m {
                    forwardedAt[u][chunk] = .infinity
                } else if forwardedAt[u][chunk].isInfinite {
                    forwardedAt[u][chunk] = now
                }
            }
        }
        let gapEnd = (u > 0 && m < low) ? low : m
        bypassEnd[v] = max(bypassEnd[v], gapEnd)
        resendUntil[v] = max(resendUntil[v], sentCount[u])
        up[v] = u
        down[u] = v
        downDetached[u] = false
        notBefore[v] = max(notBefore[v], now)
        relinks.append(
            NetworkRelink(
                time: now, from: u, to: v, removed: removed, resumeChunk: m, chunksFromGolden: gapEnd - m, cause: cause)
        )
    }

    // MARK: - Outcome

    private func outcome() -> NetworkOutcome {
        var nodes: [NetworkNodeOutcome] = []
        var makespan = 0.0
        var resentTotal = 0.0
        for v in 1...plan.n {
            let finish = finishTime[v]
            let complete = received[v] == k && finish.isFinite
            let status: NetworkNodeStatus
            var end: Double?
            if complete && (alive[v] || finish <= endTime[v]) {
                status = .ok
                end = finish
                makespan = max(makespan, finish)
            } else if let why = reason[v] {
                status = .ko(why)
                end = endTime[v]
            } else {
                status = .ko(.stranded)
            }
            let upstream = alive[v] ? (up[v] ?? -1) : lastUpstream[v]
            resentTotal += resentTo[v]
            nodes.append(
                NetworkNodeOutcome(
                    number: v, name: plan.name(v), status: status, start: startTime[v].isNaN ? nil : startTime[v],
                    finish: end, bytesReceived: plan.bytes(inFirst: received[v]),
                    bytesResent: UInt64(max(0, resentTo[v]).rounded()), upstream: upstream >= 0 ? upstream : nil))
        }
        let narrator = NetworkChainNarrator(
            plan: plan, relinks: relinks, deathTime: deathTime, deathByFraction: deathByFraction, endTime: endTime,
            reason: reason, received: received, holdBack: holdBack, maxHoldBack: maxHoldBack, finishTime: finishTime,
            lastUpstream: lastUpstream)
        return NetworkOutcome(
            scenario: plan.scenario, nodes: nodes, makespan: makespan, goldenBytesSent: UInt64(goldenSent.rounded()),
            bytesResent: UInt64(resentTotal.rounded()), relinks: relinks, faults: narrator.sentences(),
            notes: ["reference engine: event queue, chunk by chunk"])
    }
}
