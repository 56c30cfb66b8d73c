import ArgumentParser
import KaplanArchive
import KaplanLinux
import KaplanLoading
import KaplanYAML
import Glibc

/// `kaplan dev …`: developer helpers used by the test suite (schema agreement); not for operators.
struct DevCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Developer helpers for the test suite.",
        shouldDisplay: false,
        subcommands: [YAMLToJSON.self, PlanKeysCommand.self, CopyTree.self]
    )

    /// Prints a YAML file as JSON under kaplan's typing rule.
    struct YAMLToJSON: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "yaml-to-json")

        @Argument var file: String

        func run() throws {
            switch PlanFiles.read(file) {
            case .failure(let d):
                printError("\(file): \(d.message)")
                throw ExitCode(1)
            case .success(let bytes):
                do throws(YAMLError) {
                    guard let node = try YAMLParser().parse(bytes) else {
                        print("null")
                        return
                    }
                    print(YAMLJSON.render(node))
                } catch {
                    printError("\(file):\(error.mark.line):\(error.mark.column): \(error.message)")
                    throw ExitCode(1)
                }
            }
        }
    }

    /// Copies a tree through the deployment's stream (archive, extract, verify): the stream benchmark's subject.
    struct CopyTree: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "copy-tree")

        @Argument var source: String
        @Argument var destination: String
        @Option var compression: String = "zstd"

        func run() throws {
            let mode: ArchiveCompression = compression == "none" ? .none : .zstd(level: 3)
            let result = try TreeStream.copy(
                source: source, destination: destination, excluding: [], compression: mode, what: "copy-tree")
            print("copied \(result.fileBytes) bytes of files as \(result.streamBytes) stream bytes; manifest \(result.digest)")
        }
    }

    /// Prints every key path the decoder accepts.
    struct PlanKeysCommand: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "plan-keys")

        func run() { for path in PlanKeys.paths { print(path) } }
    }
}

/// Writes a line to standard error, line and newline in one write(2): lines from concurrent threads (agents
/// joining at once) never run together.
func printError(_ line: String) {
    var stderr = StandardError()
    stderr.write(line + "\n")
}

/// Standard error as a text stream.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
