import Foundation
import PackagePlugin

/// Embeds SQL files so that a deployed binary carries exactly the schema it was built
/// against: `Deploy/migrations/NNNN_name.sql` as `embeddedMigrations` in the DSR module, and
/// the demo stores' schemas and seeds (`Deploy/stores/*.sql`) as `embeddedDemoSQL` in DSRDemo.
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let deploy = context.package.directoryURL.appending(path: "Deploy")
        // The daemon's library carries its schema; the demo target the demo stores.
        let embeds = target.name == "DSRDemo" ? [("stores", "embeddedDemoSQL")] : [("migrations", "embeddedMigrations")]
        return try embeds.map { folder, variable in
            let directory = deploy.appending(path: folder)
            let files = try FileManager.default
                .contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "sql" }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
            let output = context.pluginWorkDirectoryURL.appending(path: "Embedded_\(variable).swift")
            return .buildCommand(
                displayName: "Embedding \(files.count) SQL files from Deploy/\(folder)",
                executable: try context.tool(named: "EmbedSQL").url,
                arguments: [output.path(), variable] + files.map { $0.path() },
                inputFiles: files,
                outputFiles: [output]
            )
        }
    }
}
