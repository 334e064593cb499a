//! Location, EVSE and Connector objects (written by the model helper).
