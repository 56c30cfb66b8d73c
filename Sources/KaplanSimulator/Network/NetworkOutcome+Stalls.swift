extension NetworkOutcome {
    /// Marks KO the nodes whose disk stalled and was still writing long after everyone else had finished:
    /// a deployment does not wait for them forever. A node still writing `stallTimeout` seconds after the
    /// last healthy node finished is counted as evicted at that moment.
    public func closingStalledNodes() -> NetworkOutcome {
        let stalled = Set(scenario.faults.compactMap { fault -> Int? in
            if case .stall(let n, _, _) = fault { return n }
            return nil
        })
        guard !stalled.isEmpty else { return self }
        let others = nodes.filter { !stalled.contains($0.number) && $0.status.isOK }.compactMap(\.finish)
        let deadline = (others.max() ?? 0) + scenario.stallTimeout
        var copy = self
        for i in copy.nodes.indices where stalled.contains(copy.nodes[i].number) && copy.nodes[i].status.isOK {
            if let finish = copy.nodes[i].finish, finish > deadline {
                copy.nodes[i].status = .ko(.evictedStall)
                copy.nodes[i].finish = deadline
                copy.notes.append(
                    "\(copy.nodes[i].name) was still writing at t=\(deadline)s, \(scenario.stallTimeout)s after the last healthy node finished: counted as evicted")
            }
        }
        copy.makespan = copy.nodes.compactMap(\.finish).max() ?? copy.makespan
        return copy
    }
}
