//! Tariff objects (written by the model helper).
