import Foundation

/// Finished export files in `exports.directory`, by the name a request recorded.
enum ExportFiles {
    /// Deletes one export; an export already gone is fine (a re-run after a crash). Names are
    /// dsrd's own (`<32 hex>.zip`); anything else is refused rather than joined to a path.
    static func delete(_ name: String, in directory: URL) throws {
        guard name.range(of: #"^[0-9a-f]{32}\.zip$"#, options: .regularExpression) != nil else {
            throw JobFailure.permanent("not an export file name: \(name)")
        }
        do {
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        } catch CocoaError.fileNoSuchFile {
            return
        } catch let error as NSError where error.domain == NSPOSIXErrorDomain && error.code == Int(ENOENT) {
            return
        }
    }
}
