// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Patron",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Patron", targets: ["Patron"]),
        .executable(name: "patron", targets: ["patron"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C module: LMDB from Debian's liblmdb-dev (modulemap + shim only).
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // C module: libedit from Debian's libedit-dev (readline-compatible API), for the REPL.
        .systemLibrary(
            name: "CLibEdit",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        // C module: zlib from Debian's zlib1g-dev, for reading gzip-compressed imports.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // A small, safe Swift layer over the LMDB C API.
        // Header-only helpers Swift cannot spell (a cache prefetch hint).
        .systemLibrary(name: "CSupport"),
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        // The event store: events, storage, projections, import/export, privacy.
        .target(name: "Patron", dependencies: ["LMDB", "CZlib", "CSupport"]),
        // The analyst's shell: statements, meta-commands, output for people; the only
        // place that knows about terminals and line editing.
        .target(name: "PatronShell", dependencies: ["Patron", "CLibEdit"]),
        // The command-line tool: thin, calls the library.
        .executableTarget(
            name: "patron",
            dependencies: [
                "Patron",
                "PatronShell",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Release-built benchmark driver (`make bench`).
        .executableTarget(name: "patron-bench", dependencies: ["Patron"], path: "Sources/PatronBench"),
        // Release-built query benchmark with the DuckDB comparison (`make bench-queries`).
        .executableTarget(name: "patron-querybench", dependencies: ["Patron"], path: "Sources/PatronQueryBench"),
        // Release-built model benchmark: fit and model-field query times (`scripts/bench-models`).
        .executableTarget(name: "patron-modelbench", dependencies: ["Patron"], path: "Sources/PatronModelBench"),
        // Helper process for crash-safety and multi-process tests.
        .executableTarget(name: "patron-testproc", dependencies: ["Patron"], path: "Sources/PatronTestProcess"),
        // examples/LibraryDemo: a small program that links the library (run by the tests).
        .executableTarget(name: "patron-example", dependencies: ["Patron"], path: "examples/LibraryDemo"),
        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(
            name: "PatronTests",
            dependencies: ["Patron", "PatronShell", "LMDB", "patron", "patron-testproc", "patron-example"],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
