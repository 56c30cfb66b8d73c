import Foundation
import KaplanArchive
import Testing

@Suite struct TreeManifestTests {
    @Test func manifestsSurviveJSON() throws {
        try withScratchDirectories(2) { directories in
            try writeFile(directories[0] + "/a", Array("a\n".utf8))
            try FileManager.default.createDirectory(atPath: directories[0] + "/d", withIntermediateDirectories: true)
            let (archived, extracted) = try streamTree(TreeArchiver(root: directories[0]), into: directories[1])
            let json = try JSONEncoder().encode(archived.manifest)
            let decoded = try JSONDecoder().decode(TreeManifest.self, from: json)
            #expect(decoded == extracted.manifest)
            #expect(TreeManifest(entries: decoded.entries).digest == archived.manifest.digest)
            var changed = decoded.entries
            changed[changed.count - 1].mode = 0o600
            let differences = archived.manifest.differences(from: TreeManifest(entries: changed))
            #expect(differences.count == 1)
            #expect(differences.first?.hasPrefix(changed[changed.count - 1].path + ":") == true)
        }
    }
}
