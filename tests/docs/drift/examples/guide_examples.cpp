// A fixture for docs_guide_quotes_detects_drift: the page quotes this region
// with a different value, as a guide that fell behind its example would.

// [example: drifted]
int answer() { return 42; }
// [end]
