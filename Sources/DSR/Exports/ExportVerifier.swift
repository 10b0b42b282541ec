import Foundation
import ZIPFoundation

/// Checks an export ZIP against its own manifest, as a person or a DPO could: every file the
/// manifest lists is there with its SHA-256 and size, and nothing else is (besides the
/// manifest). Used by the chaos soak on every export it produced.
public enum ExportVerifier {
    /// What is wrong with the bundle at `path`; empty when it matches its manifest.
    public static func problems(path: String, requestID: UUID? = nil) -> [String] {
        guard let archive = try? Archive(url: URL(fileURLWithPath: path), accessMode: .read, pathEncoding: nil) else {
            return ["\(path) is not a readable ZIP"]
        }
        guard let manifest = ExportBundle.manifest(in: archive)?.manifest else { return ["no readable manifest.json in \(path)"] }
        var problems: [String] = []
        if let requestID, manifest.requestID != requestID.uuidString.lowercased() {
            problems.append("the manifest names request \(manifest.requestID)")
        }
        let listed = Set(manifest.files.map(\.path))
        let present = Set(archive.map(\.path)).subtracting(["manifest.json"])
        for extra in present.subtracting(listed).sorted() { problems.append("\(extra) is in the ZIP but not in the manifest") }
        for file in manifest.files {
            guard let entry = archive[file.path], let data = ExportBundle.read(entry, of: archive) else {
                problems.append("\(file.path) is listed but missing")
                continue
            }
            if data.count != file.size { problems.append("\(file.path): \(data.count) bytes, the manifest says \(file.size)") }
            if Digests.sha256Hex(data) != file.sha256 { problems.append("\(file.path): SHA-256 differs from the manifest") }
        }
        return problems
    }
}
