"""Panda3D warning-education scenes and the VR station client (issue 5). Talks to the portal over HTTP only."""
