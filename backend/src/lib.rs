//! svclab
