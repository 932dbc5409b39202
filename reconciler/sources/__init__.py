"""Where desired state comes from: a watched directory or a git branch."""
