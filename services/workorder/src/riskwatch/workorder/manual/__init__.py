"""The command manual (指挥手册): versioned data, approved before it applies."""
