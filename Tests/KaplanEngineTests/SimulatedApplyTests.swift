import Foundation
import KaplanGraph
import KaplanLoading
import KaplanModel
import KaplanSimulator
import Testing

@testable import KaplanEngine

/// For every plan the project ships, a simulated apply (the same executor and runners as `kaplan apply`,
/// on the in-memory host) carries out exactly the graph's steps, each once, each after its dependencies.
@Suite struct SimulatedApplyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let plans: [String] = ["plans", "examples"].flatMap { folder -> [String] in
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { "\(folder)/\($0)" }
    }

    @Test(arguments: plans)
    func traceEqualsTheGraph(path: String) async throws {
        let bytes = try [UInt8](Data(contentsOf: Self.root.appendingPathComponent(path)))
        var plan = try #require(PlanLoader().load(bytes: bytes, file: path).validPlan)
        // Keep the run small: at most 8 nodes of a large plan.
        plan.nodes = Array(plan.nodes.prefix(8))
        plan.policy.parallel = 8
        let host = SimulatedHost(goldenBytes: 64 << 20)
        var changes: [NodeChanges] = []
        for node in plan.nodes {
            await host.addDisk(node: node.name, node.target.path, size: node.diskSize?.bytes ?? (1 << 40))
            let observed = try await host.probe(node: node.name, target: node.target)
            changes.append(Planner().changes(plan: plan, node: node, observed: observed, goldenIdentity: "g"))
        }
        let graph = GraphBuilder().build(plan)
        var executor = Executor(host: host, observer: Recorder())
        executor.stepsPerNode = 1
        let result = await executor.run(plan: plan, graph: graph, changes: changes)
        #expect(result.exitCode == 0, "\(path): \(result.outcomes.compactMap(\.failure))")
        let trace = await host.trace
        let position = Dictionary(trace.enumerated().map { ($1.address, $0) }, uniquingKeysWith: { a, _ in a })
        for node in plan.nodes {
            let steps = graph.steps(of: node.name)
            let expected = Set(steps.map(\.address.description))
            let done = trace.map(\.address).filter { expected.contains($0) }
            #expect(Set(done) == expected, "\(path) \(node.name): steps missing from the trace: \(expected.subtracting(done).sorted())")
            #expect(done.count == expected.count, "\(path) \(node.name): a step ran twice")
            for step in steps {
                for dep in step.dependencies where dep.owner == node.name {
                    #expect(
                        (position[dep.description] ?? .max) < (position[step.address.description] ?? -1),
                        "\(path): \(step.address) ran before \(dep)")
                }
            }
        }
    }
}
