"""pytest-benchmark suites: throwaway measurements kept outside the package and tests."""
