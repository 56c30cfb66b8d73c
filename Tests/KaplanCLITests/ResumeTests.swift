import Foundation
import Testing

extension ApplyTests {
    /// `kaplan apply --local` for real (root): interrupted right after its stream step succeeded, then run again;
    /// the rerun resumes from the journal (partition, format and stream skipped, the filesystems kept), ends OK
    /// with a clone identical to the golden, and removes the journal. Nested in ApplyTests so that it never runs
    /// beside it (ApplyTests requires /run/kaplan to be empty after each of its runs).
    @Suite(.serialized, .enabled(if: Lab.enabled)) struct ResumeTests {
        /// What one run of the binary produced.
        struct Run {
            var status: Int32
            var exitedNormally: Bool
            var stdout: String
            var stderr: String
            /// True when `interruptWhen` matched a line and SIGINT was sent.
            var interrupted: Bool
            /// Where the run mounted things (`/run/kaplan/PLAN-PID`).
            var runRoot: String
        }

        /// Runs `kaplan ARGS` in `directory` with `environment` added; sends SIGINT once a stdout line satisfies
        /// `interruptWhen`; kills it by PID after `timeout` seconds.
        static func run(
            _ arguments: [String], in directory: URL, environment: [String: String], timeout: Double, planName: String,
            interruptWhen: ((Substring) -> Bool)? = nil
        ) throws -> Run {
            let p = Process()
            p.executableURL = KaplanBinary.url
            p.arguments = arguments
            p.currentDirectoryURL = directory
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let out = Pipe()
            let err = Pipe()
            p.standardOutput = out
            p.standardError = err
            p.standardInput = FileHandle.nullDevice
            let lock = NSLock()
            nonisolated(unsafe) var outData = Data()
            nonisolated(unsafe) var errData = Data()
            let group = DispatchGroup()
            try p.run()
            group.enter()
            DispatchQueue.global().async {
                let handle = out.fileHandleForReading
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    lock.withLock { outData.append(chunk) }
                }
                group.leave()
            }
            group.enter()
            DispatchQueue.global().async {
                let data = err.fileHandleForReading.readDataToEndOfFile()
                lock.withLock { errData = data }
                group.leave()
            }
            var interrupted = false
            let deadline = Date().addingTimeInterval(timeout)
            while p.isRunning && Date() < deadline {
                if let interruptWhen, !interrupted {
                    let text = lock.withLock { String(decoding: outData, as: UTF8.self) }
                    if text.split(separator: "\n").contains(where: interruptWhen) {
                        kill(p.processIdentifier, SIGINT)
                        interrupted = true
                    }
                }
                usleep(5_000)
            }
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                group.wait()
                throw KaplanBinary.TimedOut(arguments: arguments, seconds: timeout)
            }
            p.waitUntilExit()
            group.wait()
            return lock.withLock {
                Run(
                    status: p.terminationStatus, exitedNormally: p.terminationReason == .exit,
                    stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self),
                    interrupted: interrupted, runRoot: "/run/kaplan/\(planName)-\(p.processIdentifier)")
            }
        }

        static let durable = ["node01.partition[n1.img]", "node01.format[root]", "node01.format[swap]", "node01.format[home]", "node01.stream"]

        @Test(arguments: ["json", "text"])
        func interruptedAfterTheStreamResumesAndCompletes(format: String) throws {
            guard Lab.ready() else { return }
            let lab = try LabDirectory()
            try lab.makeGolden()
            try lab.makeImage("n1.img", mib: 2048)
            try ApplyTests.dosPlan.replacingOccurrences(of: "name: apply-dos", with: "name: resume-dos")
                .write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
            let environment = ["KAPLAN_JOURNAL_DIR": lab.path("journal")]
            let journalFile = lab.path("journal/resume-dos/node01.json")
            let args = ["apply", "plan.yaml", "--local", "--auto-approve", "--format", format]
            let streamDone: (Substring) -> Bool =
                format == "json"
                ? { $0.contains("\"event\":\"step-succeeded\",\"step\":\"node01.stream\"") } : { $0.contains("node01.stream ok (") }

            // 1. Interrupted as soon as the stream step reports success.
            let first = try Self.run(args, in: lab.url, environment: environment, timeout: 600, planName: "resume-dos", interruptWhen: streamDone)
            try #require(first.interrupted, "the first run ended before its stream step succeeded:\n\(first.stdout)\n\(first.stderr)")
            #expect(first.exitedNormally && first.status == 1, "exit \(first.status):\n\(first.stderr)")
            #expect(first.stderr.contains("interrupted"), "\(first.stderr)")
            #expect(Lab.loops(of: lab.path("n1.img")).isEmpty && Lab.mounts(under: first.runRoot).isEmpty, "the interrupted run left loops or mounts")
            let saved = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: journalFile))) as? [String: Any],
                "no journal at \(journalFile)")
            let completed = ((saved["completed"] as? [[String: Any]]) ?? []).map { a in
                "\(a["owner"] ?? "?").\(a["kind"] ?? "?")" + ((a["argument"] as? String).map { "[\($0)]" } ?? "")
            }
            #expect(Set(Self.durable).isSubset(of: completed), "journal: \(completed)")
            let written = try #require(saved["written"] as? String)
            let recordedRoot = try #require(((saved["facts"] as? [String: Any])?["uuids"] as? [String: String])?["root"])
            let mode = try FileManager.default.attributesOfItem(atPath: lab.path("journal/resume-dos"))[.posixPermissions] as? Int
            #expect(mode == 0o700, "journal directory mode \(String(mode ?? 0, radix: 8))")

            // 2. The rerun skips what the journal holds, mounts again, and completes.
            let second = try Self.run(args, in: lab.url, environment: environment, timeout: 600, planName: "resume-dos")
            print(second.stdout.split(separator: "\n").suffix(8).joined(separator: "\n"))
            #expect(second.status == 0, "rerun failed:\n\(second.stdout)\n\(second.stderr)")
            let lines = second.stdout.split(separator: "\n").map(String.init)
            let reason = "done in an earlier run (journal of \(written))"
            for step in Self.durable {
                if format == "json" {
                    #expect(
                        lines.contains { $0.contains("\"event\":\"step-skipped\",\"step\":\"\(step)\",\"reason\":\"\(reason)\"") },
                        "\(step) not skipped:\n\(second.stdout)")
                    #expect(!lines.contains { $0.contains("\"event\":\"step-started\",\"step\":\"\(step)\"") }, "\(step) ran again")
                } else {
                    #expect(lines.contains { $0.hasSuffix("] \(step) skipped: \(reason)") }, "\(step) not skipped:\n\(second.stdout)")
                    #expect(!lines.contains { $0.hasSuffix("] \(step) ok") || $0.contains("] \(step) ok (") }, "\(step) ran again")
                }
            }
            if format == "json" {
                #expect(lines.contains { $0.contains("\"event\":\"step-succeeded\",\"step\":\"node01.mount[/]\"") })
                #expect(lines.contains { $0.contains("\"event\":\"journal\",\"node\":\"node01\",\"message\":\"resuming after node01.") })
                #expect(lines.last?.hasPrefix("{\"event\":\"report\",\"exitCode\":0") == true)
                // Every line, the new journal event included, matches schemas/events.schema.json.
                try second.stdout.write(toFile: lab.path("events.jsonl"), atomically: true, encoding: .utf8)
                let check = Lab.sh("/usr/bin/env", [
                    "python3", "-c",
                    "import json,sys,jsonschema; s=json.load(open(sys.argv[1])); n=0\nfor line in open(sys.argv[2]):\n  jsonschema.validate(json.loads(line), s); n+=1\nprint(n, 'events valid')",
                    KaplanBinary.packageRoot.appendingPathComponent("schemas/events.schema.json").path, lab.path("events.jsonl"),
                ])
                #expect(check.status == 0, "\(check.output)")
            } else {
                // Before it starts, apply says where each node resumes.
                #expect(lines.contains { $0.hasPrefix("node01: resuming after node01.") && $0.hasSuffix("(journal of \(written))") }, "\(second.stdout)")
                #expect(lines.contains { $0.contains("] node01.mount[/] ok (") })
                #expect(second.stdout.contains("node01  OK"))
            }
            #expect(!FileManager.default.fileExists(atPath: journalFile), "the journal is still there after the node ended OK")
            #expect(Lab.loops(of: lab.path("n1.img")).isEmpty && Lab.loops(of: lab.path("golden.img")).isEmpty, "loops left attached")
            #expect(Lab.mounts(under: second.runRoot).isEmpty, "mounts left under \(second.runRoot)")
            // The filesystems of the first run were kept, not made again.
            #expect(ApplyTests().blkid(lab, "n1.img", 1) == recordedRoot)

            // 3. The clone is the golden, but for what the fix-ups change on purpose; a diff has nothing left to do.
            try lab.mountPartition("golden.img", 1, at: lab.path("g"), type: "ext4")
            try lab.mountPartition("golden.img", 3, at: lab.path("g/home"), type: "xfs")
            try lab.mountPartition("n1.img", 1, at: lab.path("c"), type: "ext4")
            try lab.mountPartition("n1.img", 3, at: lab.path("c/home"), type: "xfs")
            let cmp = Lab.sh(
                "/usr/bin/python3",
                [KaplanBinary.packageRoot.appendingPathComponent("Tests/lab/treecmp.py").path, lab.path("g"), lab.path("c"), "--changed"] + ApplyTests.changed)
            print(cmp.output)
            #expect(cmp.status == 0, "the resumed clone differs from the golden:\n\(cmp.output)")
            let hostname = try String(contentsOfFile: lab.path("c/etc/hostname"), encoding: .utf8)
            #expect(hostname.trimmingCharacters(in: .whitespacesAndNewlines) == "node01")
            lab.unmountAll()
            let again = try KaplanBinary.run(["diff", "plan.yaml", "--detailed-exitcode"], in: lab.url)
            #expect(again.status == 0 && again.stdout.contains("No changes."), "second diff:\n\(again.stdout)")
        }

        /// A journal file that is not a record is reported, ignored and replaced; the apply still succeeds.
        @Test func corruptJournalIsReportedAndTheApplyRunsEveryStep() throws {
            guard Lab.ready() else { return }
            let lab = try LabDirectory()
            try lab.makeGolden()
            try lab.makeImage("n1.img", mib: 2048)
            try ApplyTests.dosPlan.replacingOccurrences(of: "name: apply-dos", with: "name: resume-dos")
                .write(toFile: lab.path("plan.yaml"), atomically: true, encoding: .utf8)
            let journalFile = lab.path("journal/resume-dos/node01.json")
            try FileManager.default.createDirectory(atPath: lab.path("journal/resume-dos"), withIntermediateDirectories: true)
            try "{\"format\": 1, \"node\": \"node01\", trunc".write(toFile: journalFile, atomically: true, encoding: .utf8)
            let run = try Self.run(
                ["apply", "plan.yaml", "--local", "--auto-approve"], in: lab.url, environment: ["KAPLAN_JOURNAL_DIR": lab.path("journal")],
                timeout: 600, planName: "resume-dos")
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
            let lines = run.stdout.split(separator: "\n")
            #expect(
                lines.contains { $0.hasPrefix("node01: its journal cannot be read (the journal \(journalFile) is not a journal record kaplan can read") },
                "\(run.stdout)")
            #expect(lines.contains { $0.contains("] node01.partition[n1.img] ok (") } && lines.contains { $0.contains("] node01.stream ok (") })
            #expect(!lines.contains { $0.contains("skipped: done in an earlier run") })
            #expect(!FileManager.default.fileExists(atPath: journalFile))
            #expect(Lab.loops(of: lab.path("n1.img")).isEmpty && Lab.mounts(under: run.runRoot).isEmpty)
        }
    }
}
