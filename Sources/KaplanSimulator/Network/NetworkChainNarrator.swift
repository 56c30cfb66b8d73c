/// Turns what a chain run recorded into one sentence per injected fault.
struct NetworkChainNarrator {
    let plan: NetworkPlan
    let relinks: [NetworkRelink]
    let deathTime: [Double]
    let deathByFraction: [Bool]
    let endTime: [Double]
    let reason: [NetworkNodeStatus.Reason?]
    let received: [Int]
    let holdBack: [Double]
    let maxHoldBack: [Double]
    let finishTime: [Double]
    let lastUpstream: [Int]

    /// One outcome per fault, in the scenario's order.
    func sentences() -> [NetworkFaultOutcome] {
        plan.scenario.faults.map { fault in
            let (time, text) = sentence(for: fault)
            return NetworkFaultOutcome(fault: fault, time: time, sentence: text)
        }
    }

    private func name(_ v: Int) -> String { plan.name(v) }
    private func secs(_ t: Double) -> String { NetworkText.short(t) + "s" }
    private func held(_ v: Int) -> String {
        NetworkText.percent(Double(plan.bytes(inFirst: received[v])) / plan.streamBytes)
    }
    private func finished(_ v: Int, before t: Double) -> Bool { finishTime[v].isFinite && finishTime[v] <= t }

    private func sentence(for fault: NetworkFault) -> (Double?, String) {
        switch fault {
        case .killAtFraction(let j, let fraction):
            let wanted = min(plan.chunkCount, max(0, Int((fraction * plan.streamBytes / plan.chunkBytes).rounded(.up))))
            if deathTime[j].isFinite && deathByFraction[j] && plan.killAfterChunks[j] == wanted {
                let t = deathTime[j]
                return (
                    t, "\(name(j)) killed at \(NetworkText.percent(fraction)) (t=\(secs(t))): " + repair(j, after: t)
                )
            }
            return (nil, "\(name(j)) kill at \(NetworkText.percent(fraction)) never fired: " + gone(j))
        case .killAtTime(let j, let time):
            if deathTime[j] == time && !deathByFraction[j] {
                let state =
                    finished(j, before: time) ? "after it had finished (its copy is complete)" : "holding \(held(j))"
                return (time, "\(name(j)) killed at t=\(secs(time)) \(state): " + repair(j, after: time))
            }
            return (nil, "\(name(j)) kill at t=\(secs(time)) never fired: " + gone(j))
        case .stall(let j, let time, let duration):
            let span = duration.isInfinite ? "for good" : "for \(NetworkText.short(duration)) s"
            let head = "\(name(j))'s disk stalled at t=\(secs(time)) \(span)"
            if reason[j] == .evictedStall {
                let t = endTime[j]
                return (
                    time,
                    head + ": evicted at t=\(secs(t)) after holding the chain back "
                        + "\(NetworkText.short(plan.scenario.stallTimeout)) s; " + repair(j, after: t)
                )
            }
            if finished(j, before: time) { return (nil, head + " after it had finished: no effect") }
            if endTime[j].isFinite && endTime[j] <= time { return (nil, head + " after it had left: no effect") }
            let wait = maxHoldBack[j]
            if wait <= 0 { return (time, head + ": its relay ring absorbed it; the chain never waited for it") }
            return (
                time,
                head + ": it held the chain back \(NetworkText.short(wait)) s, "
                    + "within the stall timeout (\(NetworkText.short(plan.scenario.stallTimeout)) s)"
            )
        case .slowDisk(let j, let rate):
            let head =
                "\(name(j))'s disk writes at \(NetworkText.rate(rate)) "
                + "(hop rate \(NetworkText.rate(plan.chainRate(processes: plan.n + 1))))"
            if reason[j] == .evictedStall {
                return (0, head + ": evicted at t=\(secs(endTime[j])); " + repair(j, after: endTime[j]))
            }
            let total = holdBack[j]
            if total <= 0 { return (0, head + ": it never held the chain back") }
            return (0, head + ": it paced the chain, holding it back \(NetworkText.short(total)) s in all")
        case .lateJoin(let j, let time):
            if reason[j] != nil && !(finishTime[j].isFinite) && received[j] == 0 && endTime[j] <= time {
                return (nil, "\(name(j)) never joined: it was killed at t=\(secs(endTime[j]))")
            }
            guard let r = relinks.first(where: { $0.to == j }) else {
                return (time, "\(name(j)) joined at t=\(secs(time)) but nothing ever fed it")
            }
            var text = "\(name(j)) joined at t=\(secs(time))"
            if r.cause == .join {
                text += " and was appended after \(name(r.from))"
            } else {
                text += " while the chain was being repaired; \(name(r.from)) linked to it at t=\(secs(r.time))"
            }
            text += "; " + source(of: r, subject: "it")
            if finishTime[j].isFinite && reason[j] == nil { text += "; finished at t=\(secs(finishTime[j]))" }
            return (time, text)
        }
    }

    /// Why a fault never fired.
    private func gone(_ j: Int) -> String {
        if let why = reason[j], endTime[j].isFinite {
            let what =
                switch why {
                case .killed: "killed"
                case .evictedStall: "evicted"
                case .droppedTimeout: "dropped"
                case .stranded: "stranded"
                }
            return "it was already \(what) at t=\(secs(endTime[j])) holding \(held(j))"
        }
        if finishTime[j].isFinite { return "it finished first (t=\(secs(finishTime[j])))" }
        return "it never got that far (it holds \(held(j)))"
    }

    /// How the chain healed around node `j`, gone at `t`.
    private func repair(_ j: Int, after t: Double) -> String {
        guard let r = relinks.first(where: { $0.removed.contains(j) }) else {
            if lastUpstream[j] < 0 { return "its upstream was already gone, so nothing re-linked around it" }
            return "nothing re-linked around it"
        }
        let delay = r.time - t > 0 ? "after \(NetworkText.short(r.time - t)) s" : "at once"
        let others = r.removed.filter { $0 != j }
        let also = others.isEmpty ? "" : " (cutting out \(others.map(name).joined(separator: ", ")) too)"
        guard let to = r.to else {
            return "\(name(r.from)) became the chain's tail \(delay)\(also)"
        }
        return "\(name(r.from)) re-linked to \(name(to)) \(delay)\(also); " + source(of: r, subject: name(to))
    }

    /// Where the re-linked node got its missing chunks.
    private func source(of r: NetworkRelink, subject: String) -> String {
        let m = r.resumeChunk
        if m >= plan.chunkCount { return "\(subject) already had the whole stream" }
        if r.from == 0 { return "\(subject) resumed at chunk \(m) from the golden" }
        let window = "\(name(r.from))'s replay window"
        if r.chunksFromGolden > 0 {
            return "\(subject) resumed at chunk \(m): \(NetworkText.chunks(m..<(m + r.chunksFromGolden))) "
                + "straight from the golden (\(r.chunksFromGolden == 1 ? "it" : "they") had left \(window)), "
                + "the rest from \(window)"
        }
        return "\(subject) resumed at chunk \(m) from \(window)"
    }
}
