import ArgumentParser
import Foundation

/// The language of a document dsrd writes (`--lang`).
enum DocumentLanguage: String, ExpressibleByArgument, CaseIterable {
    case th, en
}

/// Where `dsrd ropa` and `dsrd report` write: standard output, or a file replaced whole
/// (written beside it, then renamed), so a reader never sees half a document.
enum DocumentOutput {
    static func write(_ text: String, to path: String?) throws {
        guard let path else {
            FileHandle.standardOutput.write(Data(text.utf8))
            return
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw Failure(message: "cannot write \(path): \(error.localizedDescription)", exitCode: .software)
        }
    }
}
