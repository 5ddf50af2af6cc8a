"""The analyser: profile the data (support, range, discreteness per feature), then recommend."""
