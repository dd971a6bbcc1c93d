"""Operations reports computed from the projections: monthly now; annual and more later."""
