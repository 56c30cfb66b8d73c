import ArgumentParser
import Foundation
import KaplanEngine
import KaplanLinux
import KaplanModel
import KaplanNetwork

/// `kaplan apply PLAN` without `--local`: the golden serves the session over the plan's transport; agents on
/// the nodes join, run their steps and report.
struct NetworkApply {
    var planPath: String
    var plan: Plan
    var listen: String?
    var minNodes: Int?
    var spool: String
    var autoApprove: Bool
    var json: Bool

    func run() async throws {
        let json = self.json
        let printer = ProgressPrinter(json: json)
        let say: @Sendable (String) -> Void = { printer.say($0) }
        let base = TargetOptions.planDirectory(planPath)
        guard let keyFile = plan.security.keyFile else {
            printError("\(planPath): a network deployment needs a pre-shared key: set security.key-file (create one with 'head -c 32 /dev/urandom > session.key; chmod 600 session.key'); nothing was done")
            throw ExitCode(1)
        }
        let key: SessionKey
        do { key = try SessionKey(contentsOf: TargetOptions.absolute(keyFile, base: base)) } catch {
            printError("\(planPath): \(error); nothing was done")
            throw ExitCode(1)
        }
        var served = plan
        var goldenPath: String? = nil
        switch plan.golden.source {
        case .image(let p):
            goldenPath = TargetOptions.absolute(p, base: base)
            served.golden.source = .image(path: goldenPath!)
        case .disk(let d, _):
            goldenPath = d
        }
        let port = plan.transport.port
        let endpoint: Endpoint
        if let listen {
            guard let e = Endpoint(parsing: listen, defaultPort: port) else {
                throw ValidationError("--listen \(listen): expected HOST or HOST:PORT")
            }
            endpoint = e
        } else {
            endpoint = Endpoint(host: "0.0.0.0", port: port)
        }
        let host = LinuxHost(
            session: "\(plan.name)-serve-\(getpid())", gate: SafetyGate(golden: goldenPath, excludedDisks: plan.exclude.disks),
            compression: .none)
        let startNow = StartSignal()
        var configuration = ServeConfiguration(
            listen: endpoint, minNodes: minNodes, spoolDirectory: spool, acceptLateJoins: autoApprove, startNow: { startNow.isSet })
        configuration.streamSize = { [printer] in printer.expectStream(bytes: $0) }
        let autoApprove = self.autoApprove
        let server = ChainServer(
            plan: served, key: key, host: host, configuration: configuration, observer: printer,
            say: say,
            confirm: { changes in
                // The diff as `kaplan diff` prints it (no timestamps); on standard error in JSON mode.
                for line in changes.map(ChangeRenderer.text) + [ChangeRenderer.summary(changes)] {
                    if json { printError(line) } else { print(line) }
                }
                if autoApprove { return true }
                return Confirmation.ask(changes)
            })
        let task = Task { await server.run() }
        let interrupt = Interrupt { task.cancel() }
        let result = await task.value
        interrupt.stop()
        startNow.stop()
        host.removeRunDirectory()
        try ProgressPrinter.finish(result.outcomes, exitCode: result.exitCode, json: json)
    }
}

/// SIGUSR1: start the session now with the nodes that joined so far.
final class StartSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var source: DispatchSourceSignal?

    init() {
        signal(SIGUSR1, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        s.setEventHandler { [weak self] in
            self?.lock.lock()
            self?.set = true
            self?.lock.unlock()
        }
        s.resume()
        source = s
    }

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return set }

    func stop() {
        source?.cancel()
        signal(SIGUSR1, SIG_DFL)
    }
}

/// Asks the operator on the terminal.
enum Confirmation {
    /// True when the operator typed "yes"; false (with the reason printed) otherwise.
    static func ask(_ changes: [NodeChanges]) -> Bool {
        let destroying = changes.filter(\.destroysData).map(\.node)
        guard isatty(0) != 0 else {
            printError("refusing to apply without confirmation: standard input is not a terminal; pass --auto-approve")
            return false
        }
        let warning = destroying.isEmpty ? "" : " This DESTROYS DATA on \(destroying.joined(separator: ", "))."
        print("Apply these changes?\(warning) Type 'yes' to continue: ", terminator: "")
        fflush(nil)
        guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
            printError("not applied")
            return false
        }
        return true
    }
}
