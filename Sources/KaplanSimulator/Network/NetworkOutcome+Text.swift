extension NetworkOutcome {
    /// A stable text report: a header, a timeline table (every node up to `listAll` nodes; beyond that the
    /// first 10, the faulted ones and the last), totals, finish-time percentiles, re-links and fault sentences.
    public func rendered(listAll: Int = 20) -> String {
        let s = scenario
        var lines: [String] = []
        var header = "\(s.transport.rawValue): \(s.nodeCount) node\(s.nodeCount == 1 ? "" : "s"), "
        header += "\(NetworkText.bytes(s.streamSize.bytes)) stream in \(NetworkText.bytes(s.chunkSize.bytes)) chunks, "
        header += "link \(s.linkRate), latency \(NetworkText.fixed(s.latency * 1e6, decimals: 0))us, "
        header += "loss \(NetworkText.percent(s.lossRate))"
        if let cap = s.maxRate, s.transport == .multicast { header += ", max rate \(cap)" }
        if let cores = s.sharedCores { header += ", \(cores) shared cores" }
        lines.append(header)
        for note in notes { lines.append("  " + note) }
        lines.append("")

        let faulted = Set(s.faults.map(\.node))
        var shown: [NetworkNodeOutcome]
        if nodes.count <= listAll {
            shown = nodes
        } else {
            var picked = Set(nodes.prefix(10).map(\.number)).union(faulted)
            picked.insert(nodes.count)
            shown = nodes.filter { picked.contains($0.number) }
        }
        let nameWidth = max(6, shown.map(\.name.count).max() ?? 6)
        var table = [["node", "status", "start", "finish", "received", "resent"]]
        if s.transport == .chain { table[0].append("upstream") }
        for node in shown {
            var row = [
                node.name, node.status.description,
                node.start.map { NetworkText.seconds($0) } ?? "-",
                node.finish.map { NetworkText.seconds($0) } ?? "-",
                NetworkText.bytes(node.bytesReceived), NetworkText.bytes(node.bytesResent),
            ]
            if s.transport == .chain { row.append(node.upstream.map { s.name(ofNode: $0) } ?? "-") }
            table.append(row)
        }
        var widths = Array(repeating: 0, count: table[0].count)
        for row in table { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        widths[0] = max(widths[0], nameWidth)
        var previous = 0
        for (index, row) in table.enumerated() {
            if index > 0 && nodes.count > listAll {
                let number = shown[index - 1].number
                if number > previous + 1 { lines.append("  … \(number - previous - 1) more") }
                previous = number
            }
            var line = ""
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                line += i < 2 ? cell + pad : pad + cell
                if i < row.count - 1 { line += "  " }
            }
            lines.append(line)
        }
        lines.append("")

        let ok = okCount
        lines.append(
            "makespan \(NetworkText.seconds(makespan)); \(ok) ok, \(nodes.count - ok) ko; "
                + "golden sent \(NetworkText.bytes(goldenBytesSent)); resent \(NetworkText.bytes(bytesResent))"
                + (s.transport == .chain ? "; \(relinks.count) re-link\(relinks.count == 1 ? "" : "s")" : ""))
        if let p50 = finishPercentile(50), let p90 = finishPercentile(90), let p99 = finishPercentile(99),
            let p100 = finishPercentile(100)
        {
            lines.append(
                "finish times (ok nodes): p50 \(NetworkText.seconds(p50)), p90 \(NetworkText.seconds(p90)), "
                    + "p99 \(NetworkText.seconds(p99)), max \(NetworkText.seconds(p100))")
        }
        if !relinks.isEmpty {
            lines.append("re-links:")
            for r in relinks {
                let to = r.to.map { s.name(ofNode: $0) } ?? "(tail)"
                var line = "  t=\(NetworkText.seconds(r.time)) \(s.name(ofNode: r.from)) → \(to) (\(r.cause.rawValue)"
                if !r.removed.isEmpty {
                    line += ", cut out \(r.removed.map { s.name(ofNode: $0) }.joined(separator: ", "))"
                }
                if r.to != nil { line += ", resume at chunk \(r.resumeChunk)" }
                if r.chunksFromGolden > 0 { line += ", \(r.chunksFromGolden) chunks from the golden" }
                lines.append(line + ")")
            }
        }
        if !faults.isEmpty {
            lines.append("faults:")
            for f in faults { lines.append("  " + f.sentence) }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
