import DSR
import Foundation
import Testing

/// `dsrd keygen` says why it cannot write a key, not only that it cannot.
@Suite("Proof key files")
struct ProofKeyFilesTests {
    @Test func aKeyForAFolderThatDoesNotExistSaysSo() {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-no-such-folder-\(UUID().uuidString)")
        do {
            _ = try ProofKeys.generate(prefix: folder.appendingPathComponent("proof").path)
            Issue.record("a key was written into a folder that does not exist")
        } catch {
            #expect("\(error)".contains("the folder \(folder.path) does not exist"), "\(error)")
        }
    }
}
