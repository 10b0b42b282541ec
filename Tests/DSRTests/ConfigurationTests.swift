import DSRTestSupport
import Foundation
import TestSupport
import Testing

@testable import DSR

@Suite("Configuration")
struct ConfigurationTests {
    static let exampleFile = exampleConfigFile

    @Test func exampleFileDocumentsEveryKeyWithItsDefault() throws {
        let text = try String(contentsOfFile: Self.exampleFile, encoding: .utf8)
        var section = ""
        var documented: [String] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") { section = String(trimmed.dropFirst().dropLast()) }
            if !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") {
                documented.append(section + "." + trimmed[..<equals].trimmingCharacters(in: .whitespaces))
            }
        }
        #expect(documented.sorted() == ConfigurationKey.all.map(\.name).sorted())
        let loaded = try ConfigurationLoader(environment: [:]).load(file: Self.exampleFile)
        var defaults = DSRConfiguration()
        defaults.baseDirectory = URL(fileURLWithPath: Self.exampleFile).deletingLastPathComponent().path
        #expect(loaded == defaults)
        #expect(loaded.resolvedPath(loaded.notices.templatesDirectory).hasSuffix("Config/templates"))
    }

    @Test func layersApplyInOrder() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-\(UUID()).toml").path
        try "[queue]\nworkers = 3\nbatch_size = 7\npoll_interval = \"250ms\"\n[log]\nlevel = \"debug\"\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let loader = ConfigurationLoader(environment: ["DSRD_QUEUE_WORKERS": "5", "DSRD_LOG_LEVEL": "error"])
        let configuration = try loader.load(file: file, overrides: ["queue.workers=9"])
        #expect(configuration.queue.workers == 9)
        #expect(configuration.queue.batchSize == 7)
        #expect(configuration.queue.pollInterval == .milliseconds(250))
        #expect(configuration.log.level == "error")
        #expect(configuration.queue.leaseDuration == .seconds(60))
    }

    @Test(arguments: [
        ("[queue]\nworkerz = 3\n", "unknown key queue.workerz"),
        ("[queue]\nworkers = 0\n", "queue.workers must be an integer from 1 to 1024"),
        ("[queue]\nworkers = \"many\"\n", "queue.workers must be an integer"),
        ("[queue]\npoll_interval = \"soon\"\n", "queue.poll_interval must be a duration"),
        ("[queue]\nlease_duration = \"10s\"\nheartbeat_interval = \"6s\"\n", "at most half"),
        ("[log]\nlevel = \"loud\"\n", "log.level must be one of"),
        ("[daemon]\nmigrate_on_start = \"perhaps\"\n", "must be true or false"),
        ("workers = 3\n", "must be a [section]"),
        ("[queue\n", "1:7"),
    ])
    func badFilesGiveClearErrors(toml: String, expected: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dsrd-\(UUID()).toml").path
        try toml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        do {
            _ = try ConfigurationLoader(environment: [:]).load(file: file)
            Issue.record("expected an error for \(toml)")
        } catch let error as ConfigurationError {
            #expect(error.description.contains(expected), "\(error.description)")
            // Errors about one key name the file; rules across keys judge the combined layers.
            if !expected.contains("at most half") { #expect(error.description.hasPrefix(file)) }
        }
    }

    @Test func badEnvironmentAndOverridesNameTheirSource() {
        #expect(throws: ConfigurationError("DSRD_QUEUE_WORKERS: queue.workers must be an integer from 1 to 1024")) {
            try ConfigurationLoader(environment: ["DSRD_QUEUE_WORKERS": "x"]).load(file: nil)
        }
        #expect(throws: ConfigurationError("--set: unknown key queue.nope")) {
            try ConfigurationLoader(environment: [:]).load(file: nil, overrides: ["queue.nope=1"])
        }
    }

    @Test func durations() {
        #expect(DurationText.parse("250ms") == .milliseconds(250))
        #expect(DurationText.parse("30s") == .seconds(30))
        #expect(DurationText.parse("1.5m") == .seconds(90))
        #expect(DurationText.parse("6h") == .seconds(21_600))
        #expect(DurationText.parse("30d") == .seconds(2_592_000))
        #expect(DurationText.parse("2") == .seconds(2))
        #expect(DurationText.parse("-1s") == nil)
        #expect(DurationText.parse("soon") == nil)
        #expect(DurationText.format(.seconds(60)) == "1m")
        #expect(DurationText.format(.milliseconds(1500)) == "1500ms")
    }

    @Test func renderedConfigurationHidesPasswords() {
        #expect(Redaction.conninfo("postgresql://dsrd:s3cret@db/dsr") == "postgresql://dsrd:***@db/dsr")
        #expect(Redaction.conninfo("host=db password='a b' dbname=dsr") == "host=db password=*** dbname=dsr")
        #expect(Redaction.conninfo("host=db password=s3cret") == "host=db password=***")
        var configuration = DSRConfiguration()
        configuration.database.url = "postgresql://dsrd:s3cret@db/dsr"
        #expect(!configuration.rendered().contains("s3cret"))
        #expect(configuration.rendered().contains("workers = 8"))
    }

    @Test func retryDelaysGrowAndAreCapped() {
        let policy = RetryPolicy(baseDelay: .seconds(10), maxDelay: .seconds(300))
        let ceilings = (1...8).map { policy.delay(afterAttempt: $0, jitter: 1) }
        #expect(
            ceilings == [
                .seconds(10), .seconds(20), .seconds(40), .seconds(80), .seconds(160), .seconds(300), .seconds(300), .seconds(300),
            ])
        #expect(policy.delay(afterAttempt: 3, jitter: 0) == .seconds(20))
        #expect(policy.delay(afterAttempt: 1000, jitter: 0.5) == .seconds(225))
    }

    /// `dsrd config` reads the store mappings too, so a typo in one fails there (the connectors
    /// guide says so), not first when the daemon starts.
    @Test func dsrdConfigChecksTheStoreMappings() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "nmae = \"shop\"\ntype = \"postgres\"\n".write(
            to: directory.appendingPathComponent("shop.toml"), atomically: true, encoding: .utf8)
        let run = try await DaemonProcess.run([
            "config", "--config", Self.exampleFile, "--set", "connectors.directory=\(directory.path)",
        ])
        #expect(run.status == 78, "\(run.output)")
        #expect(run.output.contains("shop.toml: name: name is required"), "\(run.output)")
        let good = try await DaemonProcess.run(["config", "--config", Self.exampleFile])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("# store mappings (") && good.output.contains("customer, marketing, order"), "\(good.output)")
    }
}
