import Foundation

/// Everything one benchmark run measured, written as JSON and as a table.
struct BenchReport: Codable {
    struct Machine: Codable {
        var cpus: Int
        var memoryMiB: Int
        var postgres: String
        var swiftBuild: String
    }

    struct Ceiling: Codable {
        var pgbenchClients: Int
        var pgbenchScale: Int
        var pgbenchSeconds: Int
        var pgbenchTPS: Double
        var copyRowsPerSecond: Double?
    }

    struct QueueRun: Codable {
        var processes: Int
        var workers: Int
        var batchSize: Int
        var jobs: Int
        var seconds: Double
        var jobsPerSecond: Double
        var ratioToPgbench: Double
        var peakRSSMebibytes: Double
    }

    /// Requests answered end to end; `rows` counts rows exported, deleted, anonymised or
    /// kept under a legal hold.
    struct RequestRun: Codable {
        var kind: String
        var requests: Int
        var completed: Int
        var seconds: Double
        var requestsPerSecond: Double
        var rows: Int
        var rowsPerSecond: Double
        var peakRSSMebibytes: Double
    }

    struct ExportRun: Codable {
        var orders: Int
        var rows: Int
        var bytes: Int
        var zipBytes: Int
        var repetitions: Int
        /// Median of a warm daemon's requests, request claimed to ZIP written (identity, all
        /// stores, ZIP, digests).
        var seconds: Double
        var rowsPerSecond: Double
        var megabytesPerSecond: Double
        /// Median times of the steps: identity resolution and planning (`request` job), the
        /// order store's task alone (query, encode, write, hash; the stores run in parallel),
        /// and the ZIP assembly (`finalize` job: deflate, manifest, digest).
        var requestSeconds: Double
        var orderStoreSeconds: Double
        var finalizeSeconds: Double
        /// The first request of a daemon started for it: connections opened, catalogs read.
        /// (Optional so that reports written before they existed still load as a baseline.)
        var coldSeconds: Double?
        var coldOrderStoreSeconds: Double?
        var copyRows: Int
        var copySeconds: Double
        var copyRowsPerSecond: Double
        var ratioToCopy: Double
        /// The order store's task alone against \copy of the same rows.
        var orderStoreRatioToCopy: Double
        var peakRSSMebibytes: Double
    }

    /// One person's access and erasure end to end (median and worst of `people`).
    struct LatencyRun: Codable {
        var orders: Int
        var people: Int
        var rows: Int
        var accessMedianSeconds: Double
        var accessMaxSeconds: Double
        var erasureMedianSeconds: Double
        var erasureMaxSeconds: Double
    }

    struct NoticeRun: Codable {
        var notices: Int
        var workers: Int
        var seconds: Double
        var noticesPerSecond: Double
        var received: Int
        var peakRSSMebibytes: Double
    }

    /// The portal under load: status page and submissions at 50 and 200 clients.
    struct PortalRun: Codable {
        struct Load: Codable {
            var page: String
            var clients: Int
            var requests: Int
            var failures: Int
            var seconds: Double
            var requestsPerSecond: Double
            var p50Milliseconds: Double
            var p99Milliseconds: Double

            init(page: String, clients: Int, result: HTTPLoad.Result) {
                self.page = page
                self.clients = clients
                requests = result.requests
                failures = result.failures
                seconds = result.seconds.rounded(to: 2)
                requestsPerSecond = (Double(result.requests) / max(result.seconds, 0.001)).rounded(to: 1)
                p50Milliseconds = (result.percentile(0.50) * 1000).rounded(to: 2)
                p99Milliseconds = (result.percentile(0.99) * 1000).rounded(to: 2)
            }
        }
        var runs: [Load]
        var peakRSSMebibytes: Double
    }

    struct Target: Codable {
        var name: String
        var measured: Double
        var target: String
        var met: Bool
    }

    var startedAt: String
    var machine: Machine
    var ceiling: Ceiling?
    var queue: [QueueRun] = []
    var fanOut: [RequestRun] = []
    var export: ExportRun?
    var erasure: [RequestRun] = []
    var latency: LatencyRun?
    var notices: NoticeRun?
    var portal: PortalRun?
    var targets: [Target] = []

    mutating func evaluateTargets() {
        targets = []
        if let ceiling, let best = queue.max(by: { $0.jobsPerSecond < $1.jobsPerSecond }) {
            let ratio = best.jobsPerSecond / ceiling.pgbenchTPS
            targets.append(
                Target(
                    name: "queue no-op jobs/s at best setting (\(best.processes)x\(best.workers)) / pgbench -N TPS",
                    measured: ratio.rounded(to: 2), target: ">= 4", met: ratio >= 4))
        }
        if let export {
            targets.append(
                Target(
                    name: "access export rows/s / psql \\copy rows/s", measured: export.ratioToCopy.rounded(to: 2), target: ">= 0.8",
                    met: export.ratioToCopy >= 0.8))
        }
        if let latency {
            targets.append(
                Target(
                    name: "access of a person with \(latency.orders) orders, median ms",
                    measured: (latency.accessMedianSeconds * 1000).rounded(to: 1),
                    target: "<= 60", met: latency.accessMedianSeconds <= 0.060))
            targets.append(
                Target(
                    name: "erasure of a person with \(latency.orders) orders, median ms",
                    measured: (latency.erasureMedianSeconds * 1000).rounded(to: 1),
                    target: "<= 150", met: latency.erasureMedianSeconds <= 0.150))
        }
        if let portal {
            if let status = portal.runs.first(where: { $0.page == "status" && $0.clients == 200 }) {
                targets.append(
                    Target(
                        name: "portal status page p99 at 200 clients (ms)", measured: status.p99Milliseconds, target: "< 50",
                        met: status.p99Milliseconds < 50 && status.failures == 0))
            }
            targets.append(
                Target(
                    name: "portal peak RSS (MiB)", measured: portal.peakRSSMebibytes.rounded(to: 1), target: "< 64",
                    met: portal.peakRSSMebibytes < 64))
        }
        let peak =
            (queue.map(\.peakRSSMebibytes) + fanOut.map(\.peakRSSMebibytes) + erasure.map(\.peakRSSMebibytes)
            + [export?.peakRSSMebibytes, notices?.peakRSSMebibytes].compactMap { $0 }).max()
        if let peak {
            targets.append(
                Target(name: "daemon peak RSS in any phase (MiB)", measured: peak.rounded(to: 1), target: "< 64", met: peak < 64))
        }
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        var lines: [String] = []
        lines.append(
            "dsrd-bench \(startedAt): \(machine.cpus) CPUs, \(machine.memoryMiB) MiB, \(machine.postgres), \(machine.swiftBuild) build")
        if let ceiling {
            lines.append("")
            lines.append(
                "ceiling: pgbench -N, \(ceiling.pgbenchClients) clients, scale \(ceiling.pgbenchScale), \(ceiling.pgbenchSeconds) s: \(Self.number(ceiling.pgbenchTPS)) TPS (same cluster, synchronous_commit=on)"
            )
        }
        if !queue.isEmpty {
            lines.append("")
            lines.append(Self.row(["queue", "processes", "workers", "jobs", "seconds", "jobs/s", "x pgbench", "peak MiB"]))
            for run in queue {
                lines.append(
                    Self.row([
                        "no-op", "\(run.processes)", "\(run.workers)", "\(run.jobs)", Self.number(run.seconds, 2),
                        Self.number(run.jobsPerSecond), Self.number(run.ratioToPgbench, 2), Self.number(run.peakRSSMebibytes, 1),
                    ]))
            }
        }
        let requests = fanOut + erasure
        if !requests.isEmpty {
            lines.append("")
            lines.append(Self.row(["requests", "requests", "completed", "seconds", "requests/s", "rows", "rows/s", "peak MiB"]))
            for run in requests {
                lines.append(
                    Self.row([
                        run.kind, "\(run.requests)", "\(run.completed)", Self.number(run.seconds, 2), Self.number(run.requestsPerSecond, 1),
                        "\(run.rows)", Self.number(run.rowsPerSecond), Self.number(run.peakRSSMebibytes, 1),
                    ]))
            }
        }
        if let export {
            lines.append("")
            lines.append("export of one person with \(export.orders) orders (median of \(export.repetitions), one warm daemon):")
            lines.append(
                "  dsrd:   \(export.rows) rows, \(Self.number(Double(export.bytes) / 1_048_576, 1)) MiB of JSON (\(Self.number(Double(export.zipBytes) / 1_048_576, 2)) MiB zipped) in \(Self.number(export.seconds, 3)) s = \(Self.number(export.rowsPerSecond)) rows/s, \(Self.number(export.megabytesPerSecond, 1)) MiB/s; peak \(Self.number(export.peakRSSMebibytes, 1)) MiB"
            )
            lines.append(
                "          steps: identity and plan \(Self.number(export.requestSeconds, 3)) s, order store task \(Self.number(export.orderStoreSeconds, 3)) s, ZIP assembly \(Self.number(export.finalizeSeconds, 3)) s"
            )
            if let cold = export.coldSeconds, let coldStore = export.coldOrderStoreSeconds {
                lines.append(
                    "          cold (a daemon started for the request): \(Self.number(cold, 3)) s, order store task \(Self.number(coldStore, 3)) s"
                )
            }
            lines.append(
                "  \\copy:  \(export.copyRows) rows in \(Self.number(export.copySeconds, 3)) s = \(Self.number(export.copyRowsPerSecond)) rows/s"
            )
            lines.append(
                "  ratio:  \(Self.number(export.ratioToCopy, 2)) of \\copy's row rate end to end; the order store's task alone \(Self.number(export.orderStoreRatioToCopy, 2))"
            )
        }
        if let latency {
            lines.append("")
            lines.append("one person with \(latency.orders) orders (\(latency.rows) rows), end to end, \(latency.people) people:")
            lines.append(
                "  access:  median \(Self.number(latency.accessMedianSeconds * 1000, 1)) ms, worst \(Self.number(latency.accessMaxSeconds * 1000, 1)) ms"
            )
            lines.append(
                "  erasure: median \(Self.number(latency.erasureMedianSeconds * 1000, 1)) ms, worst \(Self.number(latency.erasureMaxSeconds * 1000, 1)) ms"
            )
        }
        if let notices {
            lines.append("")
            lines.append(
                "notices: \(notices.notices) emails to the SMTP sink with \(notices.workers) workers in \(Self.number(notices.seconds, 2)) s = \(Self.number(notices.noticesPerSecond, 1))/s (\(notices.received) received); peak \(Self.number(notices.peakRSSMebibytes, 1)) MiB"
            )
        }
        if let portal {
            lines.append("")
            lines.append(Self.row(["portal", "clients", "requests", "failed", "seconds", "requests/s", "p50 ms", "p99 ms"]))
            for run in portal.runs {
                lines.append(
                    Self.row([
                        run.page, "\(run.clients)", "\(run.requests)", "\(run.failures)", Self.number(run.seconds, 2),
                        Self.number(run.requestsPerSecond, 1), Self.number(run.p50Milliseconds, 2), Self.number(run.p99Milliseconds, 2),
                    ]))
            }
            lines.append("  portal peak RSS \(Self.number(portal.peakRSSMebibytes, 1)) MiB")
        }
        if !targets.isEmpty {
            lines.append("")
            for target in targets {
                lines.append("\(target.met ? "MET   " : "MISSED") \(target.name): \(target.measured) (target \(target.target))")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// This run's request figures beside those of an earlier report (`--json` of a run on
    /// the same machine), so a change is measured before and after in the same conditions.
    func comparison(with baseline: [String: Any]) -> String {
        func figure(_ section: String, kind: String? = nil, _ key: String) -> Double? {
            let value: Any? =
                if let kind {
                    (baseline[section] as? [[String: Any]])?.first { $0["kind"] as? String == kind }?[key]
                } else {
                    (baseline[section] as? [String: Any])?[key]
                }
            return (value as? NSNumber)?.doubleValue
        }
        var lines = ["against the baseline report (\(baseline["started_at"] as? String ?? "undated")):"]
        func add(_ name: String, _ now: Double?, _ before: Double?, higherIsBetter: Bool = true) {
            guard let now, let before, before > 0, now > 0 else { return }
            let factor = higherIsBetter ? now / before : before / now
            lines.append(
                "  \(name.padding(toLength: 34, withPad: " ", startingAt: 0)) \(Self.number(before, 2)) -> \(Self.number(now, 2))  (\(Self.number(factor, 2))x)"
            )
        }
        add(
            "access requests/s", fanOut.first { $0.kind == "access" }?.requestsPerSecond,
            figure("fan_out", kind: "access", "requests_per_second"))
        add(
            "erasure requests/s", erasure.first { $0.kind == "erasure" }?.requestsPerSecond,
            figure("erasure", kind: "erasure", "requests_per_second"))
        add(
            "erasure of the big person, s", erasure.first { $0.kind == "erasure, 1 big" }?.seconds,
            figure("erasure", kind: "erasure, 1 big", "seconds"), higherIsBetter: false)
        add("export, s", export?.seconds, figure("export", "seconds"), higherIsBetter: false)
        add("export rows/s / \\copy rows/s", export?.ratioToCopy, figure("export", "ratio_to_copy"))
        return lines.count == 1 ? "" : lines.joined(separator: "\n")
    }

    static func row(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == 0
                ? cell.padding(toLength: 16, withPad: " ", startingAt: 0) : String(repeating: " ", count: max(0, 11 - cell.count)) + cell
        }.joined()
    }

    static func number(_ value: Double, _ decimals: Int = 0) -> String {
        String(format: "%.\(decimals)f", value)
    }
}

extension Double {
    func rounded(to decimals: Int) -> Double {
        let scale = pow(10, Double(decimals))
        return (self * scale).rounded() / scale
    }
}
