// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "dsrd",
    platforms: [.macOS(.v15)],  // Synchronization (Mutex, Atomic) needs macOS 15; Linux is the target
    products: [
        .executable(name: "dsrd", targets: ["dsrd"]),
        .executable(name: "dsrd-bench", targets: ["dsrd-bench"]),
        .library(name: "DSR", targets: ["DSR"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "Curl", targets: ["Curl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libpq through pkg-config; Debian: libpq-dev.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // libcurl through pkg-config; Debian: libcurl4-openssl-dev.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // zlib through pkg-config; Debian: zlib1g-dev. Export files are deflated as they are
        // written, so the ZIP is assembled by copying (ZIPFoundation cannot add such entries).
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Safe Swift over libcurl: an HTTP client and an SMTP client with a MIME builder.
        .target(name: "Curl", dependencies: ["CCurl"]),
        // Safe Swift over libpq: one actor per connection, each on its own thread.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon's library, folders in the order a request travels: Intake, Queue, Pipeline,
        // Stores, Exports, Proofs, Notices, Scanners; Daemon and Configuration hold it together.
        .target(
            name: "DSR",
            dependencies: [
                "Postgres",
                "Curl",
                "CDeflate",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            plugins: ["EmbedMigrations"]
        ),
        // `dsrd run`'s Prometheus endpoint: swift-metrics' instruments through swift-prometheus,
        // plus gauges read from dsrd's database at each scrape (queue depth, requests).
        .target(
            name: "DSRMetrics",
            dependencies: [
                "DSR", "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The privacy portal (`dsrd portal`): server-rendered pages on Hummingbird 2 over dsrd's
        // database; submit, verify with the code, follow the request, download the answer.
        .target(
            name: "DSRPortal",
            dependencies: [
                "DSR", "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The bundled demo stores (customer, order, marketing): schemas, generated data.
        .target(
            name: "DSRDemo",
            dependencies: ["DSR", "Postgres", .product(name: "Logging", package: "swift-log")],
            plugins: ["EmbedMigrations"]
        ),
        .executableTarget(
            name: "dsrd",
            dependencies: [
                "DSR",
                "DSRDemo",
                "DSRMetrics",
                "DSRPortal",
                "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The benchmark: its own cluster, dsrd's phases against pgbench and psql \copy (README "Benchmarks").
        .executableTarget(
            name: "dsrd-bench",
            dependencies: [
                "dsrd",
                "DSR",
                "Postgres",
                "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Build-time tool: turns Deploy/migrations/*.sql into Swift so the binary carries its schema.
        .executableTarget(name: "EmbedSQL"),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["EmbedSQL"]
        ),
        // Fixtures shared by the test targets: a fresh database per test, process helpers.
        .target(
            name: "TestSupport",
            dependencies: ["Postgres"],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "CurlTests",
            dependencies: ["Curl", "TestSupport"],
            exclude: []
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "TestSupport"]
        ),
        // What the DSR test targets share: fixtures for dsrd's database and the demo stores, and
        // the daemon run in the test process (InProcessDaemon on a manual clock, BackgroundDaemon).
        .target(
            name: "DSRTestSupport",
            dependencies: [
                "DSR", "DSRDemo", "DSRPortal", "Curl", "Postgres", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            path: "Tests/DSRTestSupport"
        ),
        // Pure logic (life cycles, decisions): no PostgreSQL, no processes, seconds.
        .testTarget(
            name: "DSRUnitTests",
            dependencies: ["DSR", "TestSupport"]
        ),
        // Against a real PostgreSQL server, the daemon in the test process; the `dsrd` binary only
        // for one-shot commands (check, indexes, verify-proof, submit, migrate, a refused `run`).
        .testTarget(
            name: "DSRTests",
            dependencies: [
                "DSR",
                "DSRDemo",
                "DSRTestSupport",
                "Postgres",
                "Curl",
                "TestSupport",
                "dsrd",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // The few tests that need a real `dsrd run` process: SIGKILL at random points and at
        // failpoints, SIGTERM, systemd's notify socket, several processes sharing the queue, a
        // process's peak memory, a PostgreSQL restart under it, the benchmark's smoke run.
        .testTarget(
            name: "DSRProcessTests",
            dependencies: [
                "DSR", "DSRTestSupport", "Curl", "Postgres", "TestSupport", "dsrd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)

// Our own targets treat every compiler warning as an error (dependencies are left alone).
for target in package.targets where target.type != .system && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-warnings-as-errors"])]
}
