import ArgumentParser

/// `kaplan apply PLAN` without `--local`: serve the session over the plan's transport.
enum NetworkApply {
    static let unavailable = ValidationError(
        "serving over the network is not available yet; pass --local to deploy to targets on this machine")
}
