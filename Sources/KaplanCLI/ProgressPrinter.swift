import ArgumentParser
import Foundation
import KaplanEngine
import KaplanLoading
import KaplanModel
import Synchronization

/// Prints execution events: one line per step for people (stream progress at most once a second per node),
/// or JSON lines (schemas/events.schema.json) for tools.
final class ProgressPrinter: ExecutionObserver, Sendable {
    let json: Bool
    private let start = Date()
    private let lastProgress = Mutex<[String: (at: Date, bytes: UInt64)]>([:])
    private let expected = Mutex<UInt64?>(nil)

    init(json: Bool) { self.json = json }

    private var elapsed: String { String(format: "%7.1fs", Date().timeIntervalSince(start)) }

    /// The stream's size in bytes, once known: stream lines then end with an ETA.
    func expectStream(bytes: UInt64) { expected.withLock { $0 = bytes } }

    /// A live stream line: bytes so far, the rate over the last second, and the time left at that rate when the
    /// stream's size is known (`node03.stream 212 MiB of 516 MiB, 11.1 MiB/s, ETA 0:27`).
    static func streamLine(node: String, bytes: UInt64, rate: Double?, expected: UInt64?) -> String {
        var line = "\(node).stream \(ByteSize(bytes))"
        if let expected, expected >= bytes { line += " of \(ByteSize(expected))" }
        if let rate { line += ", \(ByteSize(UInt64(rate)))/s" }
        if let expected, expected >= bytes, let rate, rate >= 1 {
            let left = Int((Double(expected - bytes) / rate).rounded(.up))
            line += left >= 3600
                ? String(format: ", ETA %d:%02d:%02d", left / 3600, left / 60 % 60, left % 60)
                : String(format: ", ETA %d:%02d", left / 60, left % 60)
        }
        return line
    }

    /// A session message (joins, the chain, re-links), stamped like the step lines; on standard error in JSON mode.
    func say(_ line: String) {
        if json { printError(line) } else { print("[\(elapsed)] \(line)") }
        fflush(nil)
    }

    func handle(_ event: ExecutionEvent) {
        if json {
            print(Self.jsonLine(event, seconds: Date().timeIntervalSince(start)))
            fflush(nil)
            return
        }
        switch event {
        case .stepStarted(let a, let attempt):
            if attempt > 1 { print("[\(elapsed)] \(a) retry \(attempt)") }
        case .stepSucceeded(let a, let s):
            print("[\(elapsed)] \(a) ok (\(String(format: "%.1f", s))s)")
        case .stepFailed(let e, let retry):
            print("[\(elapsed)] \(e.step) FAILED: \(Self.withoutStep(e))\(e.cause.map { ": \($0)" } ?? "")\(retry ? " (will retry)" : "")")
        case .stepSkipped(let a, let reason):
            print("[\(elapsed)] \(a) skipped: \(reason)")
        case .journal(let node, let message):
            print("[\(elapsed)] \(node) journal: \(message)")
        case .progress(let node, let bytes):
            let now = Date()
            let rate = lastProgress.withLock { last -> Double?? in
                if let p = last[node], now.timeIntervalSince(p.at) < 1 { return .none }
                defer { last[node] = (now, bytes) }
                guard let p = last[node], bytes >= p.bytes else { return .some(nil) }
                return .some(Double(bytes - p.bytes) / now.timeIntervalSince(p.at))
            }
            if case .some(let r) = rate {
                print("[\(elapsed)] " + Self.streamLine(node: node, bytes: bytes, rate: r, expected: expected.withLock { $0 }))
            }
        case .nodeFinished(let o):
            print("[\(elapsed)] \(o.node) \(o.ok ? "OK" : "KO at \(o.failure!.step)")")
        }
        fflush(nil)
    }

    static func jsonLine(_ event: ExecutionEvent, seconds: Double) -> String {
        var fields: [String] = ["\"t\":\(String(format: "%.3f", seconds))"]
        func s(_ k: String, _ v: String) { fields.append("\"\(k)\":" + quoted(v)) }
        switch event {
        case .stepStarted(let a, let attempt):
            s("event", "step-started"); s("step", a.description); fields.append("\"attempt\":\(attempt)")
        case .stepSucceeded(let a, let sec):
            s("event", "step-succeeded"); s("step", a.description); fields.append("\"seconds\":\(String(format: "%.3f", sec))")
        case .stepFailed(let e, let retry):
            s("event", "step-failed"); s("step", e.step.description); s("code", e.code); s("message", e.message)
            if let c = e.cause { s("cause", c) }
            fields.append("\"willRetry\":\(retry)")
        case .stepSkipped(let a, let reason):
            s("event", "step-skipped"); s("step", a.description); s("reason", reason)
        case .journal(let node, let message):
            s("event", "journal"); s("node", node); s("message", message)
        case .progress(let node, let bytes):
            s("event", "progress"); s("node", node); fields.append("\"bytes\":\(bytes)")
        case .nodeFinished(let o):
            s("event", "node-finished"); s("node", o.node); fields.append("\"ok\":\(o.ok)")
            if let f = o.failure { s("failedStep", f.step.description); s("code", f.code); s("message", f.message) }
            fields.append("\"bytes\":\(o.bytes)"); fields.append("\"seconds\":\(String(format: "%.3f", o.seconds))")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    static func quoted(_ v: String) -> String {
        var out = ""
        YAMLJSON.quote(v, into: &out)
        return out
    }

    /// A failure's message without the step address it may start with (the line already names the step).
    static func withoutStep(_ e: StepError) -> String {
        let prefix = e.step.description + ": "
        return e.message.hasPrefix(prefix) ? String(e.message.dropFirst(prefix.count)) : e.message
    }

    /// The final per-node table.
    static func report(_ outcomes: [NodeOutcome]) -> String {
        var rows = [["NODE", "RESULT", "FAILED STEP", "REASON", "BYTES", "TIME"]]
        for o in outcomes {
            rows.append([
                o.node, o.ok ? "OK" : "KO", o.failure?.step.description ?? "-",
                o.failure.map { withoutStep($0) + ($0.cause.map { ": \($0)" } ?? "") }.map { String($0.prefix(70)) } ?? "-",
                ByteSize(o.bytes).description, String(format: "%.1fs", o.seconds),
            ])
        }
        let widths = (0..<6).map { c in rows.map { $0[c].count }.max()! }
        return rows.map { r in
            r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension ProgressPrinter {
    /// Prints the closing report of an apply (the per-node table, or the JSON `report` event) and throws the exit
    /// code when it is not 0.
    static func finish(_ outcomes: [NodeOutcome], exitCode: Int32, json: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let report = String(decoding: try encoder.encode(outcomes), as: UTF8.self)
            print("{\"event\":\"report\",\"exitCode\":\(exitCode),\"nodes\":\(report)}")
        } else {
            print("")
            print(report(outcomes))
            let ok = outcomes.filter(\.ok).count
            print("\(ok) of \(outcomes.count) nodes OK; exit \(exitCode)")
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }
}
