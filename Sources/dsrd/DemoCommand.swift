import ArgumentParser
import DSR
import DSRDemo
import Foundation
import Logging

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and fill the demo stores (customer, order, marketing databases) on dsrd's server.",
        discussion: """
            Uses the store mappings in connectors.directory; each store's database (dbname=... in \
            its url) is created next to dsrd's own and filled once with generated customers: Thai \
            and English names, shared phones, emails differing only by case, minors. Prints a \
            demo customer to submit requests for.
            """)

    @OptionGroup var options: CommonOptions

    @Option(help: "Customers to generate (about 20 orders each).") var customers = 10_000
    @Flag(help: "Drop and recreate the demo stores.") var reset = false

    mutating func run() async throws {
        let options = self.options
        let customers = self.customers
        let reset = self.reset
        try await reportingFailures {
            guard (1...1_000_000).contains(customers) else {
                throw Failure(message: "--customers must be from 1 to 1000000", exitCode: .dataError)
            }
            let configuration = try options.loadConfiguration()
            LoggingSetup.bootstrap(level: configuration.log.level)
            let stores: [StoreMapping]
            do {
                stores = try configuration.storeMappings()
            } catch let error as ConfigurationError {
                throw Failure(message: "configuration: \(error)", exitCode: .configuration)
            }
            let admin = try await options.connect(configuration)
            let seeded = try await DemoStores(logger: Logger(label: "dsrd.demo")).setUp(
                stores: stores, admin: admin, customers: customers, reset: reset)
            for (store, fresh) in seeded.sorted(by: { $0.key < $1.key }) {
                print("store \(store): \(fresh ? "created and filled" : "already filled")")
            }
            print("demo customer: somchai.96@example.co.th (customer C0000096; also registered as SOMCHAI.96@Example.CO.TH)")
        }
    }
}
