import Foundation
import Postgres
import TestSupport

/// One person's request end to end, for a person with a realistic long history (by default
/// 1,000 orders, each with an item, a payment, an invoice and a shipment): several such
/// people are added, each asks for access and then for erasure, and the median and worst
/// times are reported, from one warm daemon. The clock runs from the `request` job being claimed to the `finalize`
/// job finishing (identity resolution, every store's task, the ZIP or the proof).
struct LatencyBenchmark {
    let environment: BenchEnvironment
    let orders: Int
    let people: Int

    func run() async throws -> BenchReport.LatencyRun {
        var people: [ExportBenchmark] = []
        for index in 0..<self.people {
            let person = ExportBenchmark(environment: environment, orders: orders, name: "LATENCY\(index)")
            try await person.addPerson()
            people.append(person)
        }
        let connection = try await environment.connect()
        defer { Task { await connection.close() } }
        // One daemon, warm (connected, statements prepared), as in production; people are
        // served one after another so each time is one request alone.
        let (access, erasure, rows) = try await environment.whileDaemonsRun(1, environment.configArguments) { daemons in
            var access: [Double] = []
            var erasure: [Double] = []
            var rows = 0
            for person in people {
                let exported = try await person.requestWarm("access", daemons: daemons, on: connection)
                access.append(exported.seconds)
                rows = max(rows, exported.rows)
                erasure.append(try await person.requestWarm("erasure", daemons: daemons, on: connection).seconds)
            }
            return (access, erasure, rows)
        }.result
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return BenchReport.LatencyRun(
            orders: orders, people: self.people, rows: rows,
            accessMedianSeconds: median(access).rounded(to: 4), accessMaxSeconds: (access.max() ?? 0).rounded(to: 4),
            erasureMedianSeconds: median(erasure).rounded(to: 4), erasureMaxSeconds: (erasure.max() ?? 0).rounded(to: 4))
    }
}
