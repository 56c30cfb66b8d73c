import ArgumentParser
import Foundation
import KaplanEngine
import KaplanLinux
import KaplanModel
import KaplanNetwork

/// `kaplan agent`: run on each node (a network-booted environment, or a namespace in the lab) to be deployed.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Join a golden's session, deploy this node's disk and relay the stream down the chain.",
        discussion: """
            The agent proves it holds the session key and checks that the server holds it too before it accepts anything;
            it runs only the steps of the plan the server assigns to its node, on the disk the plan (or --disk) names.
            Exit codes: 0 this node OK, 1 KO or refused, 64 usage.
            """
    )

    @Option(name: .long, help: "The golden's address: HOST or HOST:PORT (default port 30764).")
    var server: String

    @Option(name: .long, help: "The session's pre-shared key file (the plan's security.key-file; mode 600).")
    var key: String

    @Option(name: .long, help: "This node's name in the plan (default: the host name).")
    var name: String?

    @Option(name: .long, help: "The disk to deploy instead of the plan's target for this node: /dev/… or an image file.")
    var disk: String?

    @Option(name: .long, help: "Address the data listener binds (default: the address the control connection leaves from).")
    var listen: String?

    @Option(name: .long, help: "Port of the data listener (default: any free port).")
    var dataPort: Int = 0

    @Option(name: .long, help: "HOST:PORT announced to the server for the data link, when it differs from the bound one.")
    var advertise: String?

    @Option(name: .long, help: "Seconds to keep trying to reach the server.")
    var wait: Int = 300

    @Option(name: .long, help: "Multicast: the interface to receive on (default: the plan's transport.interface, else the route's).")
    var interface: String?

    func run() async throws {
        guard let serverEndpoint = Endpoint(parsing: server, defaultPort: 30764) else {
            throw ValidationError("--server \(server): expected HOST or HOST:PORT")
        }
        var advertised: Endpoint? = nil
        if let advertise {
            guard let e = Endpoint(parsing: advertise, defaultPort: 0), e.port > 0 else {
                throw ValidationError("--advertise \(advertise): expected HOST:PORT")
            }
            advertised = e
        }
        let sessionKey: SessionKey
        do { sessionKey = try SessionKey(contentsOf: key) } catch {
            printError("agent: \(error)")
            throw ExitCode(1)
        }
        let nodeName = name ?? ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
        let diskTarget: Target? = disk.map {
            $0.hasPrefix("/dev/") ? .device($0) : .image(TargetOptions.absolute($0, base: FileManager.default.currentDirectoryPath))
        }
        let configuration = AgentConfiguration(
            server: serverEndpoint, key: sessionKey, name: nodeName, disk: diskTarget, listenHost: listen, dataPort: dataPort,
            advertise: advertised, connectTimeout: .seconds(wait), interface: interface)
        let hostBox = HostBox()
        let agent = ChainAgent(
            configuration: configuration,
            prepare: { plan, node in
                if case .image(let p) = node.target, !p.hasPrefix("/") {
                    throw HostError(
                        "no-disk", "the plan names the image '\(p)' relative to the plan file on the golden; pass --disk to say which disk this agent writes")
                }
                let gate = SafetyGate(golden: nil, excludedDisks: plan.exclude.disks)
                try gate.check(node: node.name, target: node.target)
                let state = try DiskProbe.probe(path: node.target.path)
                let host = LinuxHost(session: "\(plan.name)-agent-\(node.name)-\(getpid())", gate: gate, compression: .none)
                hostBox.set(host)
                return (host, state)
            },
            observer: AgentPrinter(),
            log: { printError($0) })
        let task = Task { await agent.run() }
        let interrupt = Interrupt { task.cancel() }
        let code = await task.value
        interrupt.stop()
        hostBox.host?.removeRunDirectory()
        if code != 0 { throw ExitCode(code) }
    }
}

/// The Linux host the agent made once it knew its plan (for the final clean-up of its run directory).
final class HostBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: LinuxHost?
    func set(_ host: LinuxHost) { lock.lock(); value = host; lock.unlock() }
    var host: LinuxHost? { lock.lock(); defer { lock.unlock() }; return value }
}

/// The agent's own log: one line per step event, on standard error.
final class AgentPrinter: ExecutionObserver, @unchecked Sendable {
    private let lock = NSLock()

    func handle(_ event: ExecutionEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .stepStarted(let a, let n): printError("\(a) started" + (n > 1 ? " (attempt \(n))" : ""))
        case .stepSucceeded(let a, let s): printError(String(format: "%@ OK (%.1f s)", "\(a)", s))
        case .stepFailed(let e, let retry): printError("\(e.step) FAILED: \(e.message)\(e.cause.map { ": \($0)" } ?? "")\(retry ? " (retrying)" : "")")
        case .stepSkipped(let a, let r): printError("\(a) skipped: \(r)")
        case .progress: break
        case .nodeFinished(let o): printError("\(o.node): \(o.ok ? "OK" : "KO")")
        case .journal(let node, let message): printError("\(node): \(message)")
        }
    }
}
