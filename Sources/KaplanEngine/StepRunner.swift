import KaplanGraph
import KaplanModel

/// Runs one kind of step against the host. The executor picks the runner by the step's kind.
public protocol StepRunner: Sendable {
    /// Carries the step out; throws a ``HostError`` (or any error) on failure.
    func run(_ step: Step, _ context: StepContext) async throws
}

/// What a runner gets besides its step: the host, the node's facts so far, and the golden.
public struct StepContext: Sendable {
    /// The host every side effect goes through.
    public var host: any Host
    /// The node being deployed.
    public var node: Node
    /// The node's facts (UUIDs, stream digest), shared by its steps.
    public var facts: FactsStore
    /// The golden, once open.
    public var golden: GoldenHandle
    /// Reports stream progress.
    public var progress: @Sendable (UInt64) -> Void
    /// The plan's deployment name.
    public var planName: String
}

/// The node's facts, updated by steps that may run at the same time.
public actor FactsStore {
    /// The current facts.
    public private(set) var facts: CloneFacts

    /// Creates a store.
    public init(_ facts: CloneFacts) { self.facts = facts }

    /// Records a new filesystem's UUID.
    public func setUUID(_ uuid: String, for id: String) { facts.uuids[id] = uuid }

    /// Records the stream digest.
    public func setStreamDigest(_ digest: String) { facts.streamDigest = digest }

    /// Replaces the facts (journal resume).
    public func restore(_ saved: CloneFacts) { facts = saved }
}

/// The standard runners, one per step kind.
public enum StepRunners {
    /// The registry the executor uses.
    public static let standard: [StepKind: any StepRunner] = [
        .snapshot: Noop(), .serve: Noop(), .partition: PartitionRunner(), .format: FormatRunner(), .mount: MountRunner(),
        .stream: StreamRunner(), .fixup: FixupRunner(), .initrd: InitrdRunner(), .bootloader: BootloaderRunner(),
        .record: RecordRunner(), .unmount: UnmountRunner(), .verify: VerifyRunner(),
    ]

    struct Noop: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {}
    }

    struct PartitionRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .partition(let target, _, let partitions) = step.detail else { return }
            let facts = await context.facts.facts
            try await context.host.writeTable(node: context.node.name, target: target, layout: facts.layout, partitions: partitions)
        }
    }

    struct FormatRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .format(let partition) = step.detail else { return }
            let facts = await context.facts.facts
            guard let entry = facts.layout.entries.first(where: { $0.id == partition.id }) else {
                throw HostError("internal", "partition '\(partition.id)' is not in the resolved layout")
            }
            let uuid = try await context.host.makeFilesystem(
                node: context.node.name, target: context.node.target, entry: entry, partition: partition)
            await context.facts.setUUID(uuid, for: partition.id)
        }
    }

    struct MountRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .mount(let id, _, _, _) = step.detail else { return }
            let facts = await context.facts.facts
            guard let entry = facts.layout.entries.first(where: { $0.id == id }),
                let partition = facts.partitions.first(where: { $0.id == id })
            else { throw HostError("internal", "partition '\(id)' is not in the resolved layout") }
            try await context.host.mount(node: context.node.name, target: context.node.target, entry: entry, partition: partition)
        }
    }

    struct StreamRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .stream(let mounts, let excluded) = step.detail else { return }
            let digest = try await context.host.receiveStream(
                node: context.node.name, golden: context.golden, mounts: mounts, excluded: excluded, progress: context.progress)
            await context.facts.setStreamDigest(digest)
        }
    }

    struct FixupRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .fixup(let fixup) = step.detail else { return }
            try await context.host.fixup(node: context.node.name, fixup: fixup, facts: await context.facts.facts)
        }
    }

    struct InitrdRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .initrd(let tool, let modules) = step.detail else { return }
            try await context.host.rebuildInitrd(node: context.node.name, tool: tool, modules: modules, facts: await context.facts.facts)
        }
    }

    struct BootloaderRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .bootloader(let bootloader, let target) = step.detail else { return }
            try await context.host.installBootloader(
                node: context.node.name, bootloader: bootloader, target: target, facts: await context.facts.facts)
        }
    }

    struct RecordRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            let facts = await context.facts.facts
            try await context.host.writeStamp(node: context.node.name, stamp: facts.stamp(planName: context.planName))
        }
    }

    struct UnmountRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .unmount(let mountpoint) = step.detail else { return }
            try await context.host.unmount(node: context.node.name, mountpoint: mountpoint)
        }
    }

    struct VerifyRunner: StepRunner {
        func run(_ step: Step, _ context: StepContext) async throws {
            guard case .verify(let target) = step.detail else { return }
            try await context.host.verify(node: context.node.name, target: target, facts: await context.facts.facts)
        }
    }
}
