import Foundation
import KaplanLoading
import Testing

@testable import KaplanGraph

/// The canonical text of the graph of every plan in plans/ and examples/ is held in Tests/Golden/graph/.
/// Set KAPLAN_UPDATE_GOLDEN=1 to rewrite the files, then review the diff.
@Suite struct GraphGoldenTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let plans: [String] = ["plans", "examples"].flatMap { folder -> [String] in
        let dir = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().map { "\(folder)/\($0)" }
    }

    @Test func everyShippedPlanIsCovered() {
        #expect(Self.plans.count >= 10)
    }

    @Test(arguments: plans)
    func graphMatchesGolden(path: String) throws {
        let bytes = try [UInt8](Data(contentsOf: Self.root.appendingPathComponent(path)))
        let plan = try #require(PlanLoader().load(bytes: bytes, file: path).validPlan, "\(path) is not valid")
        let text = try GraphRenderer.text(GraphBuilder().build(plan), title: plan.name)
        let golden = Self.root.appendingPathComponent("Tests/Golden/graph")
            .appendingPathComponent(path.replacingOccurrences(of: "/", with: "--").replacingOccurrences(of: ".yaml", with: ".txt"))
        if ProcessInfo.processInfo.environment["KAPLAN_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: golden.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: golden, atomically: true, encoding: .utf8)
            return
        }
        let expected = try? String(contentsOf: golden, encoding: .utf8)
        #expect(expected != nil, "missing \(golden.path); run with KAPLAN_UPDATE_GOLDEN=1 and review it")
        if let expected { #expect(text == expected, "graph of \(path) differs from \(golden.lastPathComponent)") }
    }
}

@Suite struct GraphRenderingTests {
    @Test func jsonDotAndMermaidAreWellFormed() throws {
        let path = "plans/ka-doc-example.yaml"
        let bytes = try [UInt8](Data(contentsOf: GraphGoldenTests.root.appendingPathComponent(path)))
        let plan = try #require(PlanLoader().load(bytes: bytes, file: path).validPlan)
        let graph = GraphBuilder().build(plan)
        let json = try JSONSerialization.jsonObject(with: Data(try GraphRenderer.json(graph).utf8)) as? [String: Any]
        let steps = try #require(json?["steps"] as? [[String: Any]])
        #expect(steps.count == graph.steps.count)
        #expect(steps.first?["address"] as? String == "golden.snapshot")
        let dot = try GraphRenderer.dot(graph, title: plan.name)
        #expect(dot.hasPrefix("digraph \"ka-doc-example\" {") && dot.contains("\"node01.stream\" -> \"node01.fixup[fstab]\";"))
        let mermaid = try GraphRenderer.mermaid(graph)
        #expect(mermaid.hasPrefix("flowchart LR\n") && mermaid.contains("-->"))
    }
}
