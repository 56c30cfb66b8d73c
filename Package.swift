// swift-tools-version: 6.0
// kaplan — clone a golden Linux node onto many cluster nodes over the network.
// Targets follow the pipeline (see README.md, "Architecture"): top depends on bottom, never the reverse.
import PackageDescription

let package = Package(
    name: "kaplan",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kaplan", targets: ["kaplan"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
    ],
    targets: [
        // C system libraries: only their Swift wrappers import them.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CFdisk", pkgConfig: "fdisk", providers: [.apt(["libfdisk-dev"])]),
        .systemLibrary(name: "CBlkid", pkgConfig: "blkid", providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        // BoringSSL's AEAD calls, as swift-crypto compiles them into the binary (no library of its own).
        .systemLibrary(name: "CBoringAEAD"),

        // SHA-256 over swift-crypto (BoringSSL, hardware-accelerated): manifests, digests, stamps.
        .target(name: "KaplanDigest", dependencies: [.product(name: "Crypto", package: "swift-crypto")], exclude: ["README.md"]),

        // Swift wrappers that own the C handles.
        .target(name: "KaplanYAML", dependencies: ["CYAML"], exclude: ["README.md"]),
        .target(name: "KaplanFdisk", dependencies: ["CFdisk", "CBlkid"], exclude: ["README.md"]),
        .target(name: "KaplanArchive", dependencies: ["CArchive", "KaplanDigest"], exclude: ["README.md"]),
        // Reed–Solomon erasure code over ISA-L: the multicast transport's repair blocks.
        .target(name: "KaplanErasure", dependencies: ["CIsal"], exclude: ["README.md"]),
        // AES-256-GCM over BoringSSL (swift-crypto's copy) into caller-owned buffers: the chunks' sealing and opening.
        .target(name: "KaplanCipher", dependencies: ["CBoringAEAD", .product(name: "Crypto", package: "swift-crypto")], exclude: ["README.md"]),

        // Plain values: Plan, sizes, ids, source ranges, diagnostics.
        .target(name: "KaplanModel", exclude: ["README.md"], linkerSettings: [.linkedLibrary("m")]),
        // YAML nodes → Plan, collecting every diagnostic.
        .target(name: "KaplanLoading", dependencies: ["KaplanYAML", "KaplanModel"], exclude: ["README.md"]),

        // Plan → step graph through small ordered transformers.
        .target(name: "KaplanGraph", dependencies: ["KaplanModel"], exclude: ["README.md"]),

        // Protocols (Host, …), the Planner behind `diff`, and the one Executor behind apply and the dry run.
        .target(name: "KaplanEngine", dependencies: ["KaplanGraph", "KaplanModel", "KaplanDigest"], exclude: ["README.md"]),

        // The real host: probing, partitioning, mkfs, mounts, the stream, chroot fix-ups, the bootloader.
        .target(name: "KaplanLinux", dependencies: ["KaplanEngine", "KaplanModel", "KaplanGraph", "KaplanFdisk", "KaplanArchive", "KaplanDigest"], exclude: ["README.md", "Fixups/README.md"]),

        // The network transports: session, handshake, framed authenticated chunks, the TCP chain, the agent.
        .target(
            name: "KaplanNetwork",
            dependencies: [
                "KaplanEngine", "KaplanModel", "KaplanGraph", "KaplanDigest", "KaplanErasure", "KaplanCipher",
                .product(name: "Crypto", package: "swift-crypto"),
            ], exclude: ["README.md"]),

        // In-memory host and discrete-event network: the dry run and the tests.
        .target(name: "KaplanSimulator", dependencies: ["KaplanModel", "KaplanEngine", "KaplanGraph", "KaplanDigest"], exclude: ["README.md"]),

        // The command line: one file per subcommand.
        .target(
            name: "KaplanCLI",
            dependencies: [
                "KaplanModel", "KaplanLoading", "KaplanYAML", "KaplanGraph", "KaplanEngine", "KaplanSimulator", "KaplanLinux", "KaplanArchive", "KaplanNetwork",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], exclude: ["README.md"]),
        .systemLibrary(name: "CMalloc"),
        .executableTarget(name: "kaplan", dependencies: ["KaplanCLI", "CMalloc"]),
        // libFuzzer entry for the loader when built with -DFUZZING -sanitize=fuzzer (scripts/fuzz);
        // otherwise a corpus replayer that runs every file once.
        .executableTarget(name: "kaplan-fuzz", dependencies: ["KaplanLoading"], path: "Sources/KaplanFuzz"),

        .testTarget(name: "KaplanYAMLTests", dependencies: ["KaplanYAML"]),
        .testTarget(name: "KaplanModelTests", dependencies: ["KaplanModel"]),
        .testTarget(name: "KaplanDigestTests", dependencies: ["KaplanDigest"]),
        .testTarget(name: "KaplanGraphTests", dependencies: ["KaplanGraph", "KaplanLoading", "KaplanModel"]),
        .testTarget(name: "KaplanEngineTests", dependencies: ["KaplanEngine", "KaplanSimulator", "KaplanLoading"]),
        .testTarget(name: "KaplanLinuxTests", dependencies: ["KaplanLinux", "KaplanFdisk", "KaplanLoading"]),
        .testTarget(name: "KaplanLoadingTests", dependencies: ["KaplanLoading", "KaplanModel"]),
        .testTarget(name: "KaplanCLITests", dependencies: ["KaplanCLI", "kaplan"]),
        .testTarget(name: "KaplanFdiskTests", dependencies: ["KaplanFdisk"]),
        .testTarget(name: "KaplanArchiveTests", dependencies: ["KaplanArchive", "KaplanDigest"]),
        .testTarget(name: "KaplanErasureTests", dependencies: ["KaplanErasure"]),
        .testTarget(
            name: "KaplanNetworkTests",
            dependencies: ["KaplanNetwork", "KaplanErasure", "KaplanEngine", "KaplanModel", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "KaplanSimulatorTests", dependencies: ["KaplanSimulator", "KaplanModel"]),
    ],
    swiftLanguageModes: [.v6]
)
