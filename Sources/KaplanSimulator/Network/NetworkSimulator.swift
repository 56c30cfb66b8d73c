/// Runs the discrete-event model of kaplan's data plane: what `kaplan simulate` prints.
public enum NetworkSimulator {
    /// Which implementation evaluates the model.
    public enum Engine: String, Sendable, Hashable, CaseIterable {
        /// The fast engines: a time-cut chunk recurrence for the chain, per-round binomial draws for multicast.
        /// 10,000 nodes × 1,024 chunks take well under a second in a release build.
        case fast
        /// The reference engines: an event-queue simulation chunk by chunk (chain) and datagram by datagram
        /// (multicast). Obviously correct, slow: meant for small cases and for checking the fast engines.
        case reference
    }

    /// Simulates `scenario`; throws every problem at once when the scenario is not valid.
    public static func simulate(
        _ scenario: NetworkScenario, engine: Engine = .fast
    ) throws(NetworkScenarioError) -> NetworkOutcome {
        let problems = scenario.problems()
        guard problems.isEmpty else { throw NetworkScenarioError(problems: problems) }
        let plan = NetworkPlan(scenario)
        switch (scenario.transport, engine) {
        case (.chain, .fast):
            var model = NetworkChainModel(plan: plan)
            return model.run()
        case (.chain, .reference):
            var model = NetworkChainReference(plan: plan)
            return model.run()
        case (.multicast, .fast):
            var model = NetworkMulticastModel(plan: plan, exact: false)
            return model.run()
        case (.multicast, .reference):
            var model = NetworkMulticastModel(plan: plan, exact: true)
            return model.run()
        }
    }
}
